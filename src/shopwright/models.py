"""Every table, imported in one place so Alembic and tests see the whole schema."""

from shopwright.accounts.models import Address, PasswordResetToken, RefreshToken, RevokedToken, User
from shopwright.db import Base
from shopwright.outbox import Event

__all__ = ["Address", "Base", "Event", "PasswordResetToken", "RefreshToken", "RevokedToken", "User"]
