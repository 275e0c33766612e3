"""The token revocation list: the same semantics in Redis, in the database table, and in the table's
copy of Redis' entries that is read while Redis is down.

`jti:` kills one token, `family:` every token of one login, `user:` every token of a user issued
before a cutoff (in ms). Entries live as long as the tokens they kill, then disappear.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import RevokedToken
from shopwright.accounts.revocation import DatabaseRevocations, RedisRevocations, RevocationStore, now_ms
from tests.conftest import REDIS_RUN_PREFIX

DAY = timedelta(days=1)


@dataclass
class Subject:
    """A store under test and the session its `revoke` writes through (`reader` checks, if another)."""

    store: RevocationStore
    session: Session
    reader: RevocationStore | None = None

    def revoke(self, key: str, ttl: timedelta = DAY, not_before: int | None = None) -> None:
        self.store.revoke(self.session, key, ttl, not_before=not_before)

    def is_revoked(
        self, jti: str = "j", family: str | None = "f", user: str = "1", issued_at: int = 5_000
    ) -> bool:
        return (self.reader or self.store).is_revoked(jti, family, user, issued_at)


# "copy": revoked through Redis and its database copy, checked by an app whose Redis does not answer.
@pytest.fixture(params=["redis", "postgresql", "sqlite", "copy"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(kind: str) -> str:
    """The database behind `db_session`: the table store runs on both (SQLite is its main home)."""
    return "sqlite" if kind == "sqlite" else "postgresql"


def _database_store(db_session: Session) -> DatabaseRevocations:
    return DatabaseRevocations(
        sessionmaker(bind=db_session.connection(), join_transaction_mode="create_savepoint")
    )


@pytest.fixture
def subject(kind: str, request: pytest.FixtureRequest) -> Iterator[Subject]:
    if kind == "redis":
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        with Session() as unused:  # Redis writes at once; the session is not touched
            yield Subject(RedisRevocations(client, REDIS_RUN_PREFIX), unused)
        return
    db_session: Session = request.getfixturevalue("db_session")
    if kind == "copy":
        copy = _database_store(db_session)
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0")
        writer = RedisRevocations(client, REDIS_RUN_PREFIX, copy=copy)
        yield Subject(writer, db_session, reader=RedisRevocations(unreachable, REDIS_RUN_PREFIX, copy=copy))
        return
    yield Subject(_database_store(db_session), db_session)


def test_nothing_is_revoked_at_first(subject: Subject) -> None:
    assert subject.is_revoked() is False
    assert subject.is_revoked(family=None) is False


def test_a_jti_entry_revokes_that_token_only(subject: Subject) -> None:
    subject.revoke("jti:j1")

    assert subject.is_revoked(jti="j1") is True
    assert subject.is_revoked(jti="j1", family=None) is True
    assert subject.is_revoked(jti="j2") is False


def test_a_family_entry_revokes_every_token_of_that_login(subject: Subject) -> None:
    subject.revoke("family:f1")

    assert subject.is_revoked(jti="a", family="f1") is True
    assert subject.is_revoked(jti="b", family="f1", user="2", issued_at=10**13) is True
    assert subject.is_revoked(jti="a", family="f2") is False
    assert subject.is_revoked(jti="a", family=None) is False


def test_a_user_cutoff_revokes_tokens_issued_before_it(subject: Subject) -> None:
    subject.revoke("user:7", not_before=1_000)

    assert subject.is_revoked(user="7", issued_at=999) is True
    assert subject.is_revoked(user="7", issued_at=1_000) is False
    assert subject.is_revoked(user="7", issued_at=1_001) is False
    assert subject.is_revoked(user="8", issued_at=999) is False


def test_a_later_cutoff_replaces_the_earlier_one(subject: Subject) -> None:
    subject.revoke("user:7", not_before=1_000)

    subject.revoke("user:7", not_before=2_000)

    assert subject.is_revoked(user="7", issued_at=1_500) is True
    assert subject.is_revoked(user="7", issued_at=2_000) is False


def test_a_cutoff_at_now_ms_spares_tokens_minted_after_it(subject: Subject) -> None:
    before = now_ms()
    time.sleep(0.002)
    cutoff = now_ms()
    subject.revoke("user:9", not_before=cutoff)
    time.sleep(0.002)

    assert subject.is_revoked(user="9", issued_at=before) is True
    assert subject.is_revoked(user="9", issued_at=now_ms()) is False


def test_kinds_of_entries_do_not_mix(subject: Subject) -> None:
    subject.revoke("jti:x")
    subject.revoke("family:x")

    assert subject.is_revoked(jti="y", family="z", user="x", issued_at=0) is False


# --- expiry ------------------------------------------------------------------------------------
@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_redis_entries_carry_their_ttl(redis_client: redis.Redis) -> None:
    store = RedisRevocations(redis_client, REDIS_RUN_PREFIX)
    with Session() as unused:
        store.revoke(unused, "jti:long", timedelta(days=30))
        store.revoke(unused, "jti:short", timedelta(milliseconds=200))

    assert 30 * 86400 - 5 <= redis_client.ttl(f"{REDIS_RUN_PREFIX}:revoked:jti:long") <= 30 * 86400
    assert (
        redis_client.ttl(f"{REDIS_RUN_PREFIX}:revoked:jti:short") == 1
    )  # never 0 (which would mean "no expiry" to SET)


def test_redis_entries_expire(redis_client: redis.Redis) -> None:
    store = RedisRevocations(redis_client, REDIS_RUN_PREFIX)
    with Session() as unused:
        store.revoke(unused, "jti:brief", timedelta(seconds=1))
    assert 0 < redis_client.pttl(f"{REDIS_RUN_PREFIX}:revoked:jti:brief") <= 1000
    assert store.is_revoked("brief", None, "1", 0) is True

    deadline = time.monotonic() + 3
    while store.is_revoked("brief", None, "1", 0) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert store.is_revoked("brief", None, "1", 0) is False
    assert redis_client.exists(f"{REDIS_RUN_PREFIX}:revoked:jti:brief") == 0


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_database_ignores_and_purges_expired_entries(db_session: Session, backend: str) -> None:
    store = _database_store(db_session)
    store.revoke(db_session, "jti:old", timedelta(seconds=-1))
    store.revoke(db_session, "user:5", timedelta(seconds=-1), not_before=10**13)
    store.revoke(db_session, "jti:live", DAY)

    assert store.is_revoked("old", None, "5", 0) is False
    assert store.is_revoked("live", None, "5", 0) is True

    purged = store.purge_expired(db_session)

    assert purged == 2
    assert list(db_session.scalars(select(RevokedToken.key))) == ["jti:live"]
    assert store.is_revoked("live", None, "5", 0) is True


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_database_revoke_is_an_upsert(db_session: Session, backend: str) -> None:
    store = _database_store(db_session)
    store.revoke(db_session, "user:3", timedelta(seconds=-1), not_before=1_000)

    store.revoke(db_session, "user:3", DAY, not_before=2_000)

    row = db_session.scalars(select(RevokedToken).where(RevokedToken.key == "user:3")).one()
    assert row.not_before == 2_000
    assert row.expires_at > datetime.now(UTC) + DAY - timedelta(minutes=1)
    assert store.is_revoked("j", None, "3", 1_999) is True


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_database_cutoffs_hold_millisecond_timestamps(db_session: Session, backend: str) -> None:
    store = _database_store(db_session)
    cutoff = now_ms()  # beyond a 32-bit integer column

    store.revoke(db_session, "user:4", DAY, not_before=cutoff)

    assert store.is_revoked("j", None, "4", cutoff - 1) is True
    assert store.is_revoked("j", None, "4", cutoff) is False
