"""Password hashing with argon2id, and a dummy verify that keeps unknown emails as slow as known ones."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_dummy_hash = _hasher.hash("dummy-password-for-timing-0")


def configure(*, time_cost: int, memory_kib: int) -> None:
    """Set the argon2id cost (from settings); called once by the app factory."""
    global _hasher, _dummy_hash
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
    _dummy_hash = _hasher.hash("dummy-password-for-timing-0")


def hash_password(password: str) -> str:
    """Return an argon2id hash of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check `password`; with no hash (unknown user) spend the same time and return False."""
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether the hash was made with other cost parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


UNUSABLE_PASSWORD = "!"  # never a valid argon2 hash: an erased account cannot log in
