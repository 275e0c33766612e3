"""Account use cases: registration, profile, deletion, activation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopwright import outbox
from shopwright.accounts import passwords
from shopwright.accounts.errors import (
    CannotDeactivateSelf,
    EmailTaken,
    LastAdmin,
    UserNotFound,
    WrongPassword,
)
from shopwright.accounts.models import ADMIN, ROLES, Address, PasswordResetToken, RefreshToken, User
from shopwright.accounts.revocation import RevocationStore, now_ms
from shopwright.accounts.schemas import ProfileUpdate, RegisterIn
from shopwright.db import get_by_id, is_row_id, table_of, utcnow
from shopwright.errors import InvalidRequest
from shopwright.pagination import KeysetPage, keyset_page

# The account's email changed: its old address is told (notifications), from where the owner can react.
EMAIL_CHANGED = "accounts.email_changed"


def register_user(session: Session, data: RegisterIn, *, role: str = "customer") -> User:
    """Create an account; the email is unique regardless of case."""
    try:
        with session.begin():
            user = User(
                email=data.email,
                password_hash=passwords.hash_password(data.password),
                full_name=data.full_name,
                role=role,
            )
            session.add(user)
            session.flush()
    except IntegrityError as error:
        # The unique index decides races between two registrations of one email.
        raise EmailTaken(f"An account with {data.email} already exists") from error
    return user


_USERS = table_of(User)
PROFILE_FIELDS = ("id", "email", "full_name", "role", "is_active", "created_at")
# Read on every GET /api/auth/me: the profile's columns, a statement built once, no User object.
_PROFILE = select(*(_USERS.c[name] for name in PROFILE_FIELDS)).where(
    _USERS.c.id == bindparam("user_id"), _USERS.c.deleted_at.is_(None)
)


def get_profile(session: Session, user_id: int) -> dict[str, Any]:
    """Return a live (not deleted) user's PROFILE_FIELDS or raise UserNotFound."""
    row = session.execute(_PROFILE, {"user_id": user_id}).first() if is_row_id(user_id) else None
    if row is None:
        raise UserNotFound(f"No user {user_id}")
    return dict(zip(PROFILE_FIELDS, row, strict=True))


def get_user(session: Session, user_id: int) -> User:
    """Return a live (not deleted) user or raise UserNotFound."""
    user = get_by_id(session, User, user_id)
    if user is None or user.deleted_at is not None:
        raise UserNotFound(f"No user {user_id}")
    return user


def update_profile(
    session: Session,
    revocations: RevocationStore,
    user_id: int,
    data: ProfileUpdate,
    *,
    current_family_id: str,
    refresh_ttl: timedelta,
) -> User:
    """Change the user's full name and/or email.

    A new email needs the current password (checked before anything else, so a stolen session can
    neither take the account nor probe which emails are taken); the old address is told and every
    session but this one (`current_family_id`) ends.
    """
    try:
        with session.begin():
            user = get_user(session, user_id)
            new_email = data.email if data.email is not None and data.email != user.email else None
            if new_email is not None:
                _check_current_password(user, data.current_password)
            if "full_name" in data.model_fields_set:
                user.full_name = data.full_name
            if new_email is not None:
                old_email, user.email = user.email, new_email
                session.flush()
                notice = {"old_email": old_email, "new_email": new_email, "full_name": user.full_name}
                outbox.publish(session, EMAIL_CHANGED, notice, user_id=user.id)
                revoke_other_sessions(session, revocations, user.id, current_family_id, refresh_ttl)
    except IntegrityError as error:
        raise EmailTaken(f"An account with {data.email} already exists") from error
    return user


def _check_current_password(user: User, current_password: str | None) -> None:
    if current_password is None:
        raise InvalidRequest(
            "Changing the email needs current_password",
            errors=[{"field": "current_password", "message": "required to change the email"}],
        )
    if not passwords.verify_password(user.password_hash, current_password):
        raise WrongPassword(
            "The current password is incorrect",
            errors=[{"field": "current_password", "message": "is incorrect"}],
        )


def revoke_other_sessions(
    session: Session, revocations: RevocationStore, user_id: int, keep_family_id: str, refresh_ttl: timedelta
) -> None:
    """End every login of the user but `keep_family_id`; runs inside the caller's transaction."""
    others = session.scalars(
        select(RefreshToken.family_id)
        .where(RefreshToken.user_id == user_id, RefreshToken.family_id != keep_family_id)
        .where(RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > utcnow())
        .distinct()
    ).all()
    revoke_families(session, revocations, list(others), refresh_ttl)


def revoke_families(
    session: Session, revocations: RevocationStore, family_ids: list[str], refresh_ttl: timedelta
) -> None:
    """Revoke refresh and access tokens of these logins; runs inside the caller's transaction."""
    if not family_ids:
        return
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id.in_(family_ids), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    for family_id in family_ids:
        revocations.revoke(session, f"family:{family_id}", refresh_ttl)


def delete_account(
    session: Session, revocations: RevocationStore, user_id: int, refresh_ttl: timedelta
) -> None:
    """Erase the user's personal data and end every session; the anonymised row keeps orders intact.

    The last active admin cannot (LastAdmin): nobody could run the shop afterwards.
    """
    with session.begin():
        user = get_user(session, user_id)
        if user.role == ADMIN:
            _keep_an_admin(session, user.id)
        user.email = f"deleted-user-{user.id}@deleted.invalid"
        user.full_name = None
        user.password_hash = passwords.UNUSABLE_PASSWORD
        user.is_active = False
        user.deleted_at = utcnow()
        session.execute(delete(Address).where(Address.user_id == user_id))
        session.execute(delete(PasswordResetToken).where(PasswordResetToken.user_id == user_id))
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        revocations.revoke(session, f"user:{user_id}", refresh_ttl, not_before=now_ms())


def toggle_user_active(
    session: Session,
    revocations: RevocationStore,
    user_id: int,
    *,
    acting_admin_id: int,
    refresh_ttl: timedelta,
) -> User:
    """Deactivate an active user (their tokens stop working at once) or reactivate an inactive one."""
    if user_id == acting_admin_id:
        raise CannotDeactivateSelf("An admin cannot change their own status")
    with session.begin():
        user = get_user(session, user_id)
        if user.is_active and user.role == ADMIN:
            _keep_an_admin(session, user.id)
        user.is_active = not user.is_active
        if not user.is_active:
            revocations.revoke(session, f"user:{user_id}", refresh_ttl, not_before=now_ms())
    return user


def change_role(
    session: Session, revocations: RevocationStore, user_id: int, role: str, *, refresh_ttl: timedelta
) -> User:
    """Give a user the role `role`; the last active admin keeps theirs (LastAdmin).

    Tokens carry the role, so a change ends the user's sessions: the next login carries the new role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    with session.begin():
        user = get_user(session, user_id)
        if user.role == role:
            return user
        if user.role == ADMIN and user.is_active:
            _keep_an_admin(session, user.id)
        user.role = role
        revocations.revoke(session, f"user:{user_id}", refresh_ttl, not_before=now_ms())
    return user


def _keep_an_admin(session: Session, admin_id: int) -> None:
    """Refuse to let `admin_id` stop being an active admin if no other would be left.

    Runs inside the caller's transaction. The active admins' rows are locked in id order before they are
    counted: two admins deactivating (or demoting) each other at once queue here, and the second counts
    after the first committed, instead of both counting two and leaving none.
    """
    admins = session.scalars(
        select(User.id)
        .where(User.role == ADMIN, User.is_active, User.deleted_at.is_(None))
        .order_by(User.id)
        .with_for_update()
    ).all()
    if list(admins) == [admin_id]:
        raise LastAdmin("This is the last active admin: make another admin first")


def list_users(session: Session, *, query: str | None, limit: int, cursor: str | None) -> KeysetPage[User]:
    """Return a page of users, newest first, optionally filtered by email or name."""
    statement = select(User).where(User.deleted_at.is_(None))
    if query:
        needle = query.lower()
        statement = statement.where(
            or_(
                User.email.contains(needle, autoescape=True),
                func.lower(User.full_name).contains(needle, autoescape=True),
            )
        )
    return keyset_page(session, statement, User.id, limit=limit, cursor=cursor)
