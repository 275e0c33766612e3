"""Address book use cases."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shopwright.accounts.errors import AddressBookFull, AddressNotFound
from shopwright.accounts.models import Address, User
from shopwright.accounts.schemas import AddressIn, AddressUpdate
from shopwright.db import get_by_id

MAX_ADDRESSES = 50


def list_addresses(session: Session, user_id: int) -> list[Address]:
    """Return the user's addresses, default first."""
    statement = (
        select(Address).where(Address.user_id == user_id).order_by(Address.is_default.desc(), Address.id)
    )
    return list(session.scalars(statement))


def add_address(session: Session, user_id: int, data: AddressIn) -> Address:
    """Add an address; the first one, or one marked default, becomes the default."""
    with session.begin():
        # Lock the owner row: concurrent adds then count and pick the default one at a time.
        session.execute(select(User.id).where(User.id == user_id).with_for_update())
        count = session.scalar(select(func.count()).where(Address.user_id == user_id)) or 0
        if count >= MAX_ADDRESSES:
            raise AddressBookFull(f"An address book holds at most {MAX_ADDRESSES} addresses")
        address = Address(user_id=user_id, **data.model_dump())
        address.is_default = data.is_default or count == 0
        if address.is_default:
            _clear_default(session, user_id)
        session.add(address)
        session.flush()
    return address


def update_address(session: Session, user_id: int, address_id: int, data: AddressUpdate) -> Address:
    """Change fields of one of the user's addresses."""
    with session.begin():
        address = _get_own(session, user_id, address_id)
        changes = data.model_dump(exclude_unset=True)
        if changes.get("is_default"):
            _clear_default(session, user_id)
        for name, value in changes.items():
            setattr(address, name, value)
    return address


def delete_address(session: Session, user_id: int, address_id: int) -> None:
    """Delete one of the user's addresses; if it was the default, the oldest remaining one takes over."""
    with session.begin():
        address = _get_own(session, user_id, address_id)
        session.delete(address)
        session.flush()
        if address.is_default:
            successor = session.scalars(
                select(Address).where(Address.user_id == user_id).order_by(Address.id).limit(1)
            ).first()
            if successor is not None:
                successor.is_default = True


def _get_own(session: Session, user_id: int, address_id: int) -> Address:
    address = get_by_id(session, Address, address_id)
    # Another customer's address is "not found": its existence is not ours to reveal.
    if address is None or address.user_id != user_id:
        raise AddressNotFound(f"No address {address_id}")
    return address


def _clear_default(session: Session, user_id: int) -> None:
    session.execute(
        update(Address)
        .where(Address.user_id == user_id, Address.is_default.is_(True))
        .values(is_default=False)
    )
