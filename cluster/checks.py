"""The checks run against the cluster. Each returns its figures and what, if anything, went wrong."""

from __future__ import annotations

import contextlib
import itertools
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cluster.load import ADDRESS, Customer, Reply, call, expect, in_parallel
from cluster.network import APP1, kill_all_in
from cluster.services import READ_FALLBACK_SECONDS, Postgres, replica_caught_up, wait_for

# Statements that read the catalog, whichever server runs them (pg_stat_statements keeps their text).
CATALOG_STATEMENTS = r"\m(products|categories)\M"


class Cluster(Protocol):
    """What a check needs from the running cluster (run.py provides it)."""

    admin: str

    @property
    def primary(self) -> Postgres: ...

    @property
    def replica(self) -> Postgres: ...

    def product(self, name: str, stock: int, price_cents: int = 2_500) -> dict[str, Any]: ...

    def restart_app1(self) -> None: ...

    def balancer_view(self) -> dict[str, str]: ...


@dataclass
class Result:
    """A check's figures, in the order they are printed, and its failed expectations."""

    title: str
    figures: list[tuple[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def figure(self, label: str, value: Any) -> None:
        self.figures.append((label, value))

    def expect(self, holds: bool, failure: str) -> None:
        if not holds:
            self.failures.append(failure)


def failed(replies: list[Reply]) -> list[Reply]:
    """The replies that are no HTTP answer or a 5xx."""
    return [reply for reply in replies if reply.status == 0 or reply.status >= 500]


def catalog_statements(server: Postgres) -> int:
    """Return how many catalog statements this server has run so far."""
    [(calls,)] = server.query(
        "SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s"
        " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query ~* %s",
        CATALOG_STATEMENTS,
    )
    return int(calls)


def stock(primary: Postgres, variant_id: int) -> tuple[int, int, int, int]:
    """Return (quantity, reserved, units sold, units held by active carts) of a variant."""
    [(quantity, reserved)] = primary.query(
        "SELECT quantity, reserved FROM inventory WHERE variant_id = %s", variant_id
    )
    [(sold,)] = primary.query(
        "SELECT coalesce(sum(quantity), 0)::int FROM order_items WHERE variant_id = %s", variant_id
    )
    [(held,)] = primary.query(
        "SELECT coalesce(sum(i.quantity), 0)::int FROM cart_items i JOIN carts c ON c.id = i.cart_id"
        " WHERE i.variant_id = %s AND c.status = 'active' AND NOT i.saved_for_later",
        variant_id,
    )
    return quantity, reserved, sold, held


def broken_orders(primary: Postgres, variant_id: int) -> int:
    """Count the orders of a variant that are not whole: no lines, or totals that do not add up."""
    [(broken,)] = primary.query(
        "SELECT count(*) FROM orders o WHERE o.id IN (SELECT order_id FROM order_items WHERE variant_id = %s)"
        " AND (o.subtotal_cents <> (SELECT coalesce(sum(line_total_cents), 0) FROM order_items"
        "      WHERE order_id = o.id)"
        "  OR o.total_cents <> o.subtotal_cents - o.discount_cents + o.shipping_cents + o.tax_cents)",
        variant_id,
    )
    return int(broken)


def failure_kinds(replies: list[Reply]) -> str:
    """Describe failed replies by kind: "502 x 3, no answer x 1"."""
    kinds = Counter("no answer" if r.status == 0 else str(r.status) for r in failed(replies))
    return ", ".join(f"{kind} x {count}" for kind, count in sorted(kinds.items())) or "none"


def served_by(replies: list[Reply]) -> str:
    hosts = Counter(reply.served_by for reply in replies if reply.served_by)
    return " / ".join(f"{host} {hosts[host]}" for host in sorted(hosts))


# --- 1. the race --------------------------------------------------------------------------------
def race(cluster: Cluster, buyers: list[Customer], units: int) -> Result:
    """All buyers at once, through the balancer, for `units` units: each adds one and checks out."""
    result = Result(f"{len(buyers):,} buyers racing for {units} units through the balancer")
    product = cluster.product("Last units", stock=units)
    variant_id = product["variants"][0]["id"]
    start = threading.Barrier(len(buyers))

    def buy(buyer: Customer) -> tuple[Reply, Reply | None]:
        start.wait(timeout=120)  # bounded: an interrupted run must not leave threads waiting forever
        added = call("POST", "/api/cart/items", {"product_id": product["id"]}, buyer.token)
        if added.status != 201:
            return added, None
        return added, call(
            "POST", "/api/orders", {"delivery_address": ADDRESS}, buyer.token, uuid.uuid4().hex
        )

    outcomes = in_parallel(buy, buyers, threads=len(buyers))
    replies = [reply for outcome in outcomes for reply in outcome if reply is not None]
    quantity, reserved, sold, held = stock(cluster.primary, variant_id)
    added = sum(1 for add, _ in outcomes if add.status == 201)
    out_of_stock = sum(1 for add, _ in outcomes if add.code == "out_of_stock")
    orders = sum(1 for _, order in outcomes if order is not None and order.status == 201)
    result.figure("units sold (order lines in the database)", sold)
    result.figure("5xx answers or no answer", len(failed(replies)))
    result.figure("added to a cart / out_of_stock", f"{added} / {out_of_stock}")
    result.figure("orders placed", orders)
    result.figure("stock afterwards: quantity / reserved", f"{quantity} / {reserved}")
    result.figure("requests answered by", served_by(replies))
    result.expect(sold == units, f"{sold} units sold, not {units}")
    result.expect(not failed(replies), f"{len(failed(replies))} requests failed: {failed(replies)[:3]}")
    result.expect((quantity, reserved, held) == (0, 0, 0), f"stock left: {quantity}/{reserved}, held {held}")
    result.expect(len(Counter(r.served_by for r in replies)) >= 2, "one app host served everything")
    return result


# --- 2. reads on the replica, and read-your-writes ---------------------------------------------------
def reads_go_to_the_replica(cluster: Cluster, product_ids: list[int], requests: int = 300) -> Result:
    """Anonymous catalog reads through the balancer: count catalog statements on each server."""
    result = Result("Catalog reads go to the replica")
    kinds = itertools.cycle(("/api/products?limit=20", "/api/products/{}", "/api/categories"))
    ids = itertools.cycle(product_ids)
    paths = [next(kinds).format(next(ids)) for _ in range(requests)]
    on_primary, on_replica = catalog_statements(cluster.primary), catalog_statements(cluster.replica)
    replies = in_parallel(lambda path: call("GET", path), paths, threads=16)
    primary_delta = catalog_statements(cluster.primary) - on_primary
    replica_delta = catalog_statements(cluster.replica) - on_replica
    result.figure("catalog requests (all 200)", f"{len(replies)} ({sum(r.status == 200 for r in replies)})")
    result.figure("catalog statements run by the replica", replica_delta)
    result.figure("catalog statements run by the primary", primary_delta)
    result.expect(all(r.status == 200 for r in replies), "a catalog read failed")
    result.expect(replica_delta >= len(replies), "the replica ran fewer statements than requests")
    result.expect(primary_delta == 0, f"the primary ran {primary_delta} catalog statements")
    return result


def read_your_writes(cluster: Cluster, customers: list[Customer], delay: str = "2s") -> Result:
    """With the replica applying changes `delay` late, customers read their cart and order at once."""
    result = Result(f"Read-your-writes with the replica {delay} behind")
    product = cluster.product("Read your writes", stock=10 * len(customers))
    price = product["variants"][0]["price_cents"]
    wait_for(
        "the new product on the replica", lambda: call("GET", f"/api/products/{product['id']}").status == 200
    )
    cluster.replica.query(f"ALTER SYSTEM SET recovery_min_apply_delay = '{delay}'")
    cluster.replica.query("SELECT pg_reload_conf()")
    try:
        # The replica really is behind: an admin's price change does not show in the catalog at once.
        changed = {"price_cents": price + 100}
        expect(call("PATCH", f"/api/products/{product['id']}", changed, cluster.admin), 200, "price change")
        shown = call("GET", f"/api/products/{product['id']}").body["variants"][0]["price_cents"]
        result.figure(
            "catalog price right after an admin's change", f"{shown} (old {price}, new {price + 100})"
        )
        result.expect(shown == price, "the replica was not behind: this check proves nothing")
        outcomes = in_parallel(lambda customer: _write_then_read(product["id"], customer), customers, 10)
    finally:
        cluster.replica.query("ALTER SYSTEM RESET recovery_min_apply_delay")
        cluster.replica.query("SELECT pg_reload_conf()")
    wait_for("the replica to catch up", lambda: replica_caught_up(cluster.primary, cluster.replica))
    carts = sum(outcome[0] for outcome in outcomes)
    orders = sum(outcome[1] for outcome in outcomes)
    result.figure("cart shows the line right after adding it", f"{carts}/{len(customers)}")
    result.figure("order readable (and listed) right after checkout", f"{orders}/{len(customers)}")
    result.expect(carts == orders == len(customers), "a customer did not see their own write")
    return result


def _write_then_read(product_id: int, customer: Customer) -> tuple[bool, bool]:
    token = customer.token
    added = call("POST", "/api/cart/items", {"product_id": product_id, "quantity": 2}, token)
    cart = call("GET", "/api/cart", token=token).body
    sees_cart = added.status == 201 and [(i["product_id"], i["quantity"]) for i in cart["items"]] == [
        (product_id, 2)
    ]
    placed = call("POST", "/api/orders", {"delivery_address": ADDRESS}, token, uuid.uuid4().hex)
    if placed.status != 201:
        return sees_cart, False
    order = call("GET", f"/api/orders/{placed.body['id']}", token=token)
    history = call("GET", "/api/orders", token=token).body
    sees_order = (
        order.status == 200
        and order.body["total_cents"] == placed.body["total_cents"]
        and history["items"][0]["id"] == placed.body["id"]
    )
    return sees_cart, sees_order


# --- 3. an app host killed in the middle of checkouts ---------------------------------------------
def app_host_killed(cluster: Cluster, customers: list[Customer]) -> Result:
    """Checkouts through the balancer; app1 gets SIGKILL a third of the way; failed ones are retried."""
    result = Result("App host app1 killed (SIGKILL) in the middle of checkouts")
    stocked = 10 * len(customers)
    product = cluster.product("Survivor", stock=stocked)
    variant_id = product["variants"][0]["id"]
    for reply in in_parallel(
        lambda c: call("POST", "/api/cart/items", {"product_id": product["id"]}, c.token), customers, 16
    ):
        expect(reply, 201, "add to cart before the checkouts")
    keys = {customer.email: uuid.uuid4().hex for customer in customers}
    finished = itertools.count(1)
    third = threading.Event()
    moments: dict[str, float] = {}

    def checkout(customer: Customer) -> Reply:
        reply = call(
            "POST", "/api/orders", {"delivery_address": ADDRESS}, customer.token, keys[customer.email]
        )
        if next(finished) == len(customers) // 3:
            third.set()
        return reply

    def kill_app1_and_watch_the_balancer() -> None:
        third.wait(timeout=60)
        kill_all_in(APP1.namespace, signal.SIGKILL, grace=0)
        moments["killed"] = time.monotonic()
        with contextlib.suppress(TimeoutError):  # reported below
            wait_for("app1 marked DOWN", lambda: cluster.balancer_view().get("app1") == "DOWN")
            moments["down"] = time.monotonic()

    killer = threading.Thread(target=kill_app1_and_watch_the_balancer)
    killer.start()
    first = in_parallel(checkout, customers, threads=24)
    killer.join()

    # Clients retry what failed, with the same Idempotency-Key, until answered.
    retried = [c for c, reply in zip(customers, first, strict=True) if reply.status != 201]
    retries = in_parallel(lambda c: _retry_checkout(c, keys[c.email]), retried, threads=16)
    quantity, reserved, sold, held = stock(cluster.primary, variant_id)
    [(orders, buyers)] = cluster.primary.query(
        "SELECT count(DISTINCT o.id), count(DISTINCT o.user_id) FROM orders o JOIN order_items i"
        " ON i.order_id = o.id WHERE i.variant_id = %s",
        variant_id,
    )
    replies = first + [reply for attempts in retries for reply in attempts]
    down = moments.get("down", float("inf"))
    after_down = [reply for reply in replies if reply.started >= down]
    broken = broken_orders(cluster.primary, variant_id)
    result.figure("checkouts", len(customers))
    result.figure("answered 201 at the first attempt", sum(r.status == 201 for r in first))
    result.figure("failed at the first attempt", f"{len(failed(first))} ({failure_kinds(first)})")
    result.figure("app1 marked DOWN by the balancer after", f"{down - moments['killed']:.1f} s")
    result.figure("requests after that / failed", f"{len(after_down)} / {len(failed(after_down))}")
    recovered = sum(attempts[-1].status == 201 for attempts in retries)
    result.figure("retried with the same Idempotency-Key -> 201", f"{recovered}/{len(retried)}")
    result.figure("orders / customers with an order", f"{orders} / {buyers}")
    result.figure("orders not whole", broken)
    result.figure(
        "stock: quantity / reserved / sold / held by carts", f"{quantity} / {reserved} / {sold} / {held}"
    )
    result.expect(down < float("inf"), "the balancer never marked app1 DOWN")
    if not failed(first):
        # Seen once in CI (app1 shown DOWN at once, nothing cut): the invariants below still hold, but this
        # run did not prove them under a cut request. Reported, not failed, so a timing accident is not red.
        result.figure("note", "no request was in flight on app1 when it was killed")
    result.expect(recovered == len(retried), "a retried checkout never succeeded")
    result.expect(
        orders == buyers == len(customers), f"{orders} orders for {buyers} of {len(customers)} customers"
    )
    result.expect(broken == 0, f"{broken} orders are not whole")
    result.expect(
        (quantity, reserved) == (stocked - sold, held), "stock does not agree with orders and carts"
    )
    result.expect(sold == len(customers), f"{sold} units sold for {len(customers)} checkouts")
    result.expect(not failed(after_down), "requests failed after the balancer marked app1 DOWN")
    rejoined = _time(cluster.restart_app1)
    result.figure("app1 restarted and back in rotation after", f"{rejoined:.1f} s")
    return result


def _retry_checkout(customer: Customer, key: str, attempts: int = 40) -> list[Reply]:
    replies = []
    for _ in range(attempts):
        reply = call("POST", "/api/orders", {"delivery_address": ADDRESS}, customer.token, key)
        replies.append(reply)
        if reply.status == 201:
            break
        time.sleep(0.25)
    return replies


def _time(action: Callable[[], None]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


# --- 4. the replica stopped ----------------------------------------------------------------------
def replica_stopped(cluster: Cluster, product_ids: list[int], requests: int = 200) -> Result:
    """Stop the replica: catalog reads fall back to the primary; start it: they return to it."""
    result = Result("Replica stopped, then started again (reads fall back to the primary)")
    paths = [
        f"/api/products/{product_id}"
        for product_id in itertools.islice(itertools.cycle(product_ids), requests)
    ]
    cluster.replica.stop()
    try:
        on_primary = catalog_statements(cluster.primary)
        replies = in_parallel(lambda path: call("GET", path), paths, threads=16)
        primary_delta = catalog_statements(cluster.primary) - on_primary
    finally:
        cluster.replica.start()
    started = time.monotonic()
    wait_for("the replica streaming again", lambda: replica_caught_up(cluster.primary, cluster.replica))

    def all_on_replica() -> bool:
        """Send a batch of reads; tell whether the primary ran none of them."""
        on_primary = catalog_statements(cluster.primary)
        in_parallel(lambda path: call("GET", path), paths[:20], threads=8)
        return catalog_statements(cluster.primary) == on_primary

    wait_for("catalog reads back on the replica", all_on_replica)
    back = time.monotonic() - started
    # By then every read pool has tried the replica again; connections it opened to the primary during
    # the outage are closed when next checked out, at the latest READ_FALLBACK_SECONDS after the outage.
    time.sleep(max(0.0, started + READ_FALLBACK_SECONDS - time.monotonic()))
    on_primary, on_replica = catalog_statements(cluster.primary), catalog_statements(cluster.replica)
    later = in_parallel(lambda path: call("GET", path), paths[:100], threads=16)
    primary_after = catalog_statements(cluster.primary) - on_primary
    replica_after = catalog_statements(cluster.replica) - on_replica
    result.figure(
        "catalog reads while the replica was down: 200 / failed",
        f"{sum(r.status == 200 for r in replies)} / {len(failed(replies))}",
    )
    result.figure("catalog statements the primary ran meanwhile", primary_delta)
    result.figure("all reads back on the replica after it started", f"{back:.1f} s")
    result.figure("next 100 reads: statements on replica / primary", f"{replica_after} / {primary_after}")
    result.expect(all(r.status == 200 for r in replies + later), "a catalog read failed")
    result.expect(primary_delta >= len(replies), "the primary did not answer the reads")
    result.expect(primary_after == 0 and replica_after >= len(later), "reads did not return to the replica")
    return result


# --- 5. the worker host ---------------------------------------------------------------------------
def outbox_delivered(cluster: Cluster) -> Result:
    """Every event the checkouts wrote is delivered (marked) by the worker host."""
    result = Result("Outbox events delivered by the worker host")

    def counts() -> tuple[int, int]:
        [(total, pending)] = cluster.primary.query(
            "SELECT count(*), count(*) FILTER (WHERE delivered_at IS NULL) FROM events"
        )
        return int(total), int(pending)

    with contextlib.suppress(TimeoutError):  # what is left is reported below
        wait_for("the outbox to drain", lambda: counts()[1] == 0, timeout=30)
    total, pending = counts()
    result.figure("events written / still pending", f"{total} / {pending}")
    result.expect(total > 0 and pending == 0, f"{pending} of {total} events not delivered")
    return result
