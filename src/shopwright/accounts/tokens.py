"""Session use cases: login, refresh-token rotation, logout, password change and reset."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shopwright import outbox
from shopwright.accounts import passwords
from shopwright.accounts.errors import InvalidCredentials, InvalidResetToken, InvalidToken, WrongPassword
from shopwright.accounts.models import PasswordResetToken, RefreshToken, User
from shopwright.accounts.revocation import RevocationStore, now_ms
from shopwright.accounts.schemas import normalise_email
from shopwright.accounts.service import get_user, revoke_families, revoke_other_sessions
from shopwright.db import utcnow

# Someone asked for a reset of an email (maybe no account's): the request records only that, so it takes
# the same time for any email. Its delivery looks the account up and, for an active one, issues a token
# and the email's event (PASSWORD_RESET_ISSUED), which the notifications send.
PASSWORD_RESET_REQUESTED = "accounts.password_reset_requested"
PASSWORD_RESET_ISSUED = "accounts.password_reset_issued"


@dataclass(frozen=True)
class Grant:
    """What a successful login or refresh hands out: the claims of a new token pair."""

    user_id: int
    role: str
    family_id: str
    refresh_jti: str
    refresh_expires_at: datetime


def login(session: Session, email: str, password: str, refresh_ttl: timedelta) -> Grant:
    """Check credentials and start a new session (refresh-token family)."""
    with session.begin():
        user = session.scalars(select(User).where(User.email == normalise_email(email))).first()
        # Verify even for unknown emails (against a dummy hash): response time must not tell them apart.
        valid = passwords.verify_password(user.password_hash if user else None, password)
        if user is None or not valid or not user.is_active:
            raise InvalidCredentials("Invalid email or password")
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        return _issue(session, user, str(uuid.uuid4()), refresh_ttl)


def refresh(session: Session, revocations: RevocationStore, jti: str, refresh_ttl: timedelta) -> Grant:
    """Spend a refresh token for a new pair; a spent token presented again revokes its whole family."""
    with session.begin():
        now = utcnow()
        # One conditional UPDATE spends the token: of two racing refreshes exactly one wins.
        spent = session.execute(
            update(RefreshToken)
            .where(RefreshToken.jti == jti, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
            .where(RefreshToken.expires_at > now)
            .values(used_at=now)
            .returning(RefreshToken.family_id, RefreshToken.user_id)
        ).first()
        user = session.get(User, spent.user_id) if spent else None
        if spent is not None and user is not None and user.is_active:
            return _issue(session, user, spent.family_id, refresh_ttl)
        reused = session.get(RefreshToken, jti)
        if reused is not None and reused.used_at is not None:
            # Reuse means the token leaked: end that login everywhere (committed, then refused).
            revoke_families(session, revocations, [reused.family_id], refresh_ttl)
    raise InvalidToken("Refresh token is invalid, expired or already used")


def logout(
    session: Session,
    revocations: RevocationStore,
    *,
    jti: str,
    family_id: str,
    access_expires_at: datetime,
    refresh_ttl: timedelta,
) -> None:
    """Revoke the presented access token and every refresh token of its login."""
    with session.begin():
        revocations.revoke(session, f"jti:{jti}", max(access_expires_at - utcnow(), timedelta(seconds=1)))
        revoke_families(session, revocations, [family_id], refresh_ttl)


def change_password(
    session: Session,
    revocations: RevocationStore,
    user_id: int,
    *,
    current_family_id: str,
    current_password: str,
    new_password: str,
    refresh_ttl: timedelta,
) -> None:
    """Replace the password after checking the current one; every other session is revoked."""
    with session.begin():
        user = get_user(session, user_id)
        if not passwords.verify_password(user.password_hash, current_password):
            raise WrongPassword(
                "The current password is incorrect",
                errors=[{"field": "current_password", "message": "is incorrect"}],
            )
        user.password_hash = passwords.hash_password(new_password)
        revoke_other_sessions(session, revocations, user_id, current_family_id, refresh_ttl)


def request_password_reset(session: Session, email: str) -> None:
    """Record a reset request for `email`; issue_password_reset handles it after the answer is sent.

    The same work for every email, an account's or not: how long the request takes tells nothing.
    """
    with session.begin():
        outbox.publish(session, PASSWORD_RESET_REQUESTED, {"email": normalise_email(email)})


def issue_password_reset(
    session: Session, payload: dict[str, Any], *, ttl: timedelta, reset_url: str
) -> None:
    """Issue a single-use reset token to the active account of a requested email and publish its email.

    The outbox's handler of PASSWORD_RESET_REQUESTED: runs inside the delivery's transaction. An unknown
    or inactive email gets nothing.
    """
    user = session.scalars(select(User).where(User.email == payload["email"])).first()
    if user is not None and user.is_active:
        token = secrets.token_urlsafe(32)
        expires_at = utcnow() + ttl
        session.add(PasswordResetToken(user_id=user.id, token_hash=_digest(token), expires_at=expires_at))
        outbox.publish(
            session,
            PASSWORD_RESET_ISSUED,
            {
                "email": user.email,
                "full_name": user.full_name,
                "reset_url": reset_url.format(token=token),
                "token": token,
                "expires_at": expires_at.isoformat(),
            },
            user_id=user.id,
        )


def confirm_password_reset(
    session: Session, revocations: RevocationStore, token: str, new_password: str, refresh_ttl: timedelta
) -> None:
    """Set a new password with a reset token; the token and every other open reset are spent."""
    with session.begin():
        now = utcnow()
        user_id = session.scalars(
            update(PasswordResetToken)
            .where(PasswordResetToken.token_hash == _digest(token), PasswordResetToken.used_at.is_(None))
            .where(PasswordResetToken.expires_at > now)
            .values(used_at=now)
            .returning(PasswordResetToken.user_id)
        ).first()
        user = session.get(User, user_id) if user_id is not None else None
        if user is None or not user.is_active:
            raise InvalidResetToken("The reset token is invalid, expired or already used")
        user.password_hash = passwords.hash_password(new_password)
        session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
            .values(used_at=now)
        )
        # Whoever knew the old password must not stay logged in.
        revocations.revoke(session, f"user:{user.id}", refresh_ttl, not_before=now_ms())


def _issue(session: Session, user: User, family_id: str, refresh_ttl: timedelta) -> Grant:
    """Record a new refresh token of `family_id`; runs inside the caller's transaction."""
    now = utcnow()
    token = RefreshToken(
        jti=str(uuid.uuid4()),
        family_id=family_id,
        user_id=user.id,
        issued_at=now,
        expires_at=now + refresh_ttl,
    )
    session.add(token)
    return Grant(user.id, user.role, family_id, token.jti, token.expires_at)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
