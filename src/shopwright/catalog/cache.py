"""The catalog cache: anonymous catalog answers kept per worker, dropped when the catalog changes.

Each worker keeps a small LRU of answers (the exact bytes, their ETag and status), keyed by method,
path and the canonical query (`answer_key`). An entry serves only while it is younger than
CATALOG_CACHE_SECONDS and was built at the current catalog version. The version is a counter in
Redis (one GET per cached read) shared by every worker and host, or a counter of this process on the
embedded default; a use case that changes what the catalog shows calls `bump_catalog_version` in its
transaction and the counter moves once it commits. Without an answer from Redis the cache is
bypassed: every read is built fresh, never an error. See docs/operations.md, "Catalog cache".
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from shopwright.db import after_commit
from shopwright.observability import get_logger

log = get_logger(__name__)
_SESSION_KEY = "shopwright.catalog_cache"
# After Redis failed to answer, reads skip it (and the cache) this long instead of waiting on it again.
REDIS_RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer as sent: the body's bytes, its strong ETag, the status."""

    body: bytes
    etag: str
    status: int = 200


@dataclass(frozen=True, slots=True)
class _Entry:
    answer: Answer
    version: bytes
    expires_at: float


def answer_key(method: str, path: str, query: BaseModel | None = None) -> str:
    """Return the cache key of a request: method, path and the validated query with sorted keys.

    Two URLs that ask the same (`?limit=20&sort=newest`, `?sort=newest&limit=20`, `?limit=20` and
    no query when 20 is the default) validate to the same model, hence share one entry.
    """
    canonical = "" if query is None else json.dumps(query.model_dump(mode="json"), sort_keys=True)
    return f"{method} {path} {canonical}"


class CatalogCache:
    """Answers of this worker by key, valid at one catalog version for at most `seconds`."""

    def __init__(
        self,
        *,
        seconds: float,
        entries: int,
        client: redis.Redis | None = None,
        key_prefix: str = "shopwright",
        poll_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`client`: the Redis holding the shared version (None: a version of this process only).

        `poll_seconds`: read the shared version at most this often (0: on every read); a change made
        on another host may then be served stale that much longer.
        """
        self.seconds = seconds
        self.capacity = entries
        self.client = client
        self.version_key = f"{key_prefix}:catalog:version"
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # A request as it came (method, path, raw query) -> the key its validated query made: a request
        # seen before finds its answer without being validated again (`known_answer`).
        self._aliases: dict[str, str] = {}
        self._lock = threading.Lock()
        self._local_version = 0
        self._polled: tuple[float, bytes] | None = None  # (when, version) of the last read from Redis
        self._redis_retry_at = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def attach(self, sessions: sessionmaker[Session]) -> None:
        """Let `bump_catalog_version` find this cache from the sessions of `sessions`."""
        info = dict(sessions.kw.get("info") or {})
        sessions.configure(info={**info, _SESSION_KEY: self})

    def cached_answer(self, key: str, build: Callable[[], Answer]) -> Answer:
        """Return the answer kept for `key` at the current version, else `build()` it (and keep a 200)."""
        # The version is read before the answer is built: a change committed meanwhile moves it past
        # the version the new entry carries, so that entry is never served.
        version = self._version()
        if version is None:
            return build()
        now = self.clock()
        cached = self._fresh(key, version, now)
        if cached is not None:
            return cached
        answer = build()
        if answer.status == 200:
            with self._lock:
                self._entries[key] = _Entry(answer, version, now + self.seconds)
                self._entries.move_to_end(key)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        return answer

    def known_answer(self, request_key: str) -> Answer | None:
        """Return the current answer for a request already seen in exactly this form (see `remember`)."""
        key = self._aliases.get(request_key)
        if key is None:
            return None
        version = self._version()
        if version is None:
            return None
        return self._fresh(key, version, self.clock())

    def _fresh(self, key: str, version: bytes, now: float) -> Answer | None:
        """Return the entry's answer if it is of this catalog version and not expired (marked recent)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version and entry.expires_at > now:
                self._entries.move_to_end(key)
                return entry.answer
        return None

    def remember(self, request_key: str, key: str) -> None:
        """Note that the request `request_key` (unvalidated) asks what `key` names.

        Validation depends on nothing but the request's path and query, so the pair holds for good.
        """
        if request_key in self._aliases:
            return
        with self._lock:
            if len(self._aliases) >= 4 * self.capacity:  # bounded: start over rather than grow
                self._aliases.clear()
            self._aliases[request_key] = key

    def bump(self) -> None:
        """Move the catalog version: every worker's entries built before now stop serving."""
        with self._lock:
            self._entries.clear()
            self._local_version += 1
            self._polled = None
        if self.client is None:
            return
        try:
            self.client.incr(self.version_key)
        except redis.RedisError as error:
            # Other workers serve their entries until they expire (CATALOG_CACHE_SECONDS) at the latest.
            log.warning("catalog_cache.bump_failed", error_type=type(error).__name__)

    def _version(self) -> bytes | None:
        if self.client is None:
            return str(self._local_version).encode()
        now = self.clock()
        polled = self._polled
        if polled is not None and now - polled[0] < self.poll_seconds:
            return polled[1]
        if now < self._redis_retry_at:
            return None
        try:
            value: Any = self.client.get(self.version_key)
        except redis.RedisError as error:
            if not self._redis_retry_at:
                log.warning("catalog_cache.bypassed", error_type=type(error).__name__)
            self._redis_retry_at = now + REDIS_RETRY_SECONDS
            return None
        if self._redis_retry_at:
            log.info("catalog_cache.resumed")
            self._redis_retry_at = 0.0
        version = b"0" if value is None else value if isinstance(value, bytes) else str(value).encode()
        self._polled = (now, version)
        return version


def bump_catalog_version(session: Session) -> None:
    """Drop cached catalog answers once this session's transaction commits (nothing on rollback).

    Call it inside the transaction of any write that changes what an anonymous catalog read shows.
    A session not made by the app's factory (a script, a test arranging data) has no cache to tell.
    """
    cache = session.info.get(_SESSION_KEY)
    if isinstance(cache, CatalogCache):
        after_commit(session, cache.bump)
