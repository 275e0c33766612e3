"""Flask commands: `flask db …`, create-admin, seed-db, deliver-events, expire-carts, cancel-unpaid-orders,
reconcile-payments, purge, rebuild-sales-rollup, import-products, export-products."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, TextIO

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from pydantic import ValidationError

from shopwright import idempotency, outbox, seed
from shopwright.accounts import seed as account_seed
from shopwright.accounts.revocation import DatabaseRevocations
from shopwright.cart import service as cart
from shopwright.catalog.importing import Limits, csv_lines
from shopwright.config import Settings
from shopwright.errors import ShopError
from shopwright.inventory import exporting, importing
from shopwright.orders import cancellation, payment, rollup

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
db_group = AppGroup("db", help="Database migrations (Alembic).")


def alembic_config(database_url: str) -> Config:
    """Return an Alembic config for the project's migrations and this database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _settings() -> Settings:
    settings: Settings = current_app.extensions["shopwright.settings"]
    return settings


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    command.upgrade(alembic_config(_settings().DATABASE_URL), revision)


@db_group.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (default: one step)."""
    command.downgrade(alembic_config(_settings().DATABASE_URL), revision)


@db_group.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--autogenerate/--empty", default=True, help="Diff the models against the database.")
def db_revision(message: str, autogenerate: bool) -> None:
    """Create a new migration file."""
    command.revision(alembic_config(_settings().DATABASE_URL), message=message, autogenerate=autogenerate)


@db_group.command("check")
def db_check() -> None:
    """Fail if the models differ from the migrations."""
    command.check(alembic_config(_settings().DATABASE_URL))


@click.command("create-admin")
@with_appcontext
@click.option("--email", required=True)
@click.option("--password", required=True)
def create_admin(email: str, password: str) -> None:
    """Create an admin account, or make an existing account an admin (idempotent)."""
    try:
        with current_app.extensions["shopwright.sessions"]() as session:
            user, created = account_seed.ensure_admin(session, email, password)
    except ValidationError as error:
        messages = "; ".join(
            f"{e['loc'][0]}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()
        )
        raise click.BadParameter(messages) from error
    click.echo(f"{'Created' if created else 'Updated'} admin {user.email} (id {user.id})")


@click.command("seed-db")
@with_appcontext
@click.option(
    "--products",
    "products",
    type=click.IntRange(min=1),
    default=None,
    help="Also generate this many extra products in bulk (e.g. 1000000 for load tests).",
)
@click.option(
    "--force", is_flag=True, help="Run outside APP_ENV=development too (demo passwords are public)."
)
def seed_db(products: int | None, force: bool) -> None:
    """Load demo data: an admin, two customers, a catalog with reviews (idempotent)."""
    env = _settings().APP_ENV
    if env != "development" and not force:
        raise click.ClickException(
            f"seed-db creates demo accounts with published passwords (admin@example.com / Admin123!); "
            f"refusing with APP_ENV={env}. Pass --force to load them anyway (never on a real shop)."
        )
    sessions = current_app.extensions["shopwright.sessions"]
    with sessions() as session:
        for line in [*account_seed.seed_accounts(session), *seed.seed_catalog(session)]:
            click.echo(line)
    if products:
        with sessions() as session, click.progressbar(length=products, label="Generating products") as bar:
            seed.bulk_products(session, products, bar.update)
        click.echo(f"catalog  {products} generated products added")


@click.command("deliver-events")
@with_appcontext
def deliver_events() -> None:
    """Deliver pending outbox events (emails) now, including retries that are due."""
    delivered = current_app.extensions["shopwright.outbox"].deliver_pending(limit=10_000)
    click.echo(f"Delivered {delivered} event(s)")


@click.command("expire-carts")
@with_appcontext
def expire_carts() -> None:
    """Expire carts untouched for CART_TTL_MINUTES and release their reservations (safe to run anytime)."""
    with current_app.extensions["shopwright.sessions"]() as session:
        expired = cart.expire_carts(session)
    click.echo(f"Expired {expired.carts} cart(s), released {expired.units} unit(s)")


@click.command("cancel-unpaid-orders")
@with_appcontext
def cancel_unpaid_orders() -> None:
    """Cancel orders unpaid for ORDER_PAYMENT_TIMEOUT_MINUTES, restocking them (safe to run anytime)."""
    timeout = timedelta(minutes=_settings().ORDER_PAYMENT_TIMEOUT_MINUTES)
    with current_app.extensions["shopwright.sessions"]() as session:
        cancelled = cancellation.cancel_unpaid_orders(
            session, current_app.extensions["shopwright.gateway"], timeout=timeout
        )
    click.echo(f"Cancelled {cancelled} unpaid order(s)")


@click.command("reconcile-payments")
@with_appcontext
def reconcile_payments() -> None:
    """Settle payments stuck `processing` (a lost answer, no webhook) with the provider's record."""
    with current_app.extensions["shopwright.sessions"]() as session:
        done = payment.reconcile_payments(session, current_app.extensions["shopwright.gateway"])
    click.echo(
        f"Asked the provider about {done.checked} stuck payment(s); settled {done.settled}; "
        f"sent {done.refunds} pending refund(s) again"
    )


@click.command("purge")
@with_appcontext
def purge() -> None:
    """Delete what is kept only for a while: old idempotency keys, expired revocations, delivered events."""
    sessions = current_app.extensions["shopwright.sessions"]
    with sessions() as session:
        keys = idempotency.purge_keys(session)
    with sessions() as session, session.begin():
        revocations = DatabaseRevocations(sessions).purge_expired(session)
    retention = timedelta(days=_settings().OUTBOX_RETENTION_DAYS)
    events = outbox.purge_delivered(sessions, older_than=retention)
    click.echo(f"Purged {keys} idempotency key(s), {revocations} revocation(s), {events} delivered event(s)")


@click.command("rebuild-sales-rollup")
@with_appcontext
def rebuild_sales_rollup() -> None:
    """Recompute the reports' sales rollup from the orders (a repair tool; safe to run anytime)."""
    with current_app.extensions["shopwright.sessions"]() as session:
        counted = rollup.rebuild(session)
    click.echo(f"Rebuilt the sales rollup: {counted} order(s) count")


@click.command("import-products")
@with_appcontext
@click.argument("file", type=click.File("rb"))
def import_products(file: BinaryIO) -> None:
    """Create or update products by SKU from a CSV or XLSX FILE ('-' for stdin), all or nothing.

    The rules of POST /api/admin/products/import (docs/backoffice-import.md), without its size limit.
    """
    data = file.read()
    sessions = current_app.extensions["shopwright.sessions"]
    try:
        with sessions() as session, click.progressbar(length=2, label="Importing products") as bar:
            result = importing.import_products(
                session,
                data,
                progress=lambda _rows: bar.update(1),
                limits=Limits.of(_settings()),
            )
    except ShopError as error:
        for problem in error.extensions.get("errors", []):
            click.echo(f"row {problem['row']}, {problem['field'] or 'row'}: {problem['message']}", err=True)
        raise click.ClickException(error.detail) from error
    click.echo(
        f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
        f"{result.categories_created} categories created"
    )


@click.command("export-products")
@with_appcontext
@click.argument("file", type=click.File("w", encoding="utf-8-sig", lazy=True), default="-")
def export_products(file: TextIO) -> None:
    """Write every product variant as CSV to FILE (default: stdout), in the columns the import reads."""
    for chunk in csv_lines(exporting.export_rows(current_app.extensions["shopwright.sessions"])):
        file.write(chunk)


def register(app: Flask) -> None:
    """Add the commands to the app's CLI."""
    app.cli.add_command(db_group)
    commands = (
        create_admin,
        seed_db,
        deliver_events,
        expire_carts,
        cancel_unpaid_orders,
        reconcile_payments,
        purge,
        rebuild_sales_rollup,
        import_products,
        export_products,
    )
    for cmd in commands:
        app.cli.add_command(cmd)
