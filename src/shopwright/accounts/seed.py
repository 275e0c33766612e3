"""Demo and bootstrap accounts for `flask seed-db` and `flask create-admin`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopwright.accounts import passwords
from shopwright.accounts.models import User
from shopwright.accounts.schemas import RegisterIn, normalise_email
from shopwright.accounts.service import register_user

DEMO_ADMIN = ("admin@example.com", "Admin123!", "Ada Admin")
DEMO_CUSTOMERS = (
    ("alice@example.com", "Customer123!", "Alice Customer"),
    ("bob@example.com", "Customer123!", "Bob Customer"),
)


def ensure_admin(
    session: Session, email: str, password: str, full_name: str | None = None
) -> tuple[User, bool]:
    """Create an admin, or promote and re-password an existing account; return it and whether it is new."""
    data = RegisterIn(email=email, password=password, full_name=full_name)  # same policy as registration
    with session.begin():
        user = session.scalars(select(User).where(User.email == normalise_email(email))).first()
        if user is not None:
            user.role, user.is_active = "admin", True
            user.password_hash = passwords.hash_password(password)
            return user, False
    return register_user(session, data, role="admin"), True


def seed_accounts(session: Session) -> list[str]:
    """Create the demo admin and customers if they are missing; return what was done."""
    lines = []
    admin, created = ensure_admin(session, *DEMO_ADMIN)
    lines.append(f"admin    {admin.email} / {DEMO_ADMIN[1]}" + (" (created)" if created else ""))
    for email, password, name in DEMO_CUSTOMERS:
        with session.begin():
            exists = session.scalars(select(User.id).where(User.email == email)).first() is not None
        if not exists:
            register_user(session, RegisterIn(email=email, password=password, full_name=name))
        lines.append(f"customer {email} / {password}" + ("" if exists else " (created)"))
    return lines
