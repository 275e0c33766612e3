"""Settings read from the environment and an optional `.env` file (see docs/configuration.md)."""

from __future__ import annotations

import hmac
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Development-only defaults. They are refused outside development (see `_refuse_default_secrets`).
DEV_SECRET_KEY = "dev-only-secret-key-change-me-0123456789abcdef"
DEV_PAYMENT_WEBHOOK_SECRET = "dev-only-payment-webhook-secret-change-me"
DEV_PASSWORD_RESET_URL = "http://127.0.0.1:5000/reset-password?token={token}"
MAX_SHIPPING_CENTS = 10**8  # a shipping rate of at most 1,000,000.00


class InsecureSettings(ValueError):
    """A production setting still has its development default."""


class Settings(BaseSettings):
    """Every knob of the service; names match the environment variables."""

    # hide_input_in_errors: a refused setting must not print secrets (keys, database passwords) to logs.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    APP_ENV: Literal["development", "test", "production"] = "development"
    DATABASE_URL: str = "sqlite:///instance/shopwright.db"
    # Public catalog reads: a streaming replica; unset, the primary through autocommit connections.
    DATABASE_READ_URL: str | None = None
    DATABASE_POOL_SIZE: int = 10
    DATABASE_ECHO: bool = False
    DATABASE_POOL_PRE_PING: bool = False
    # Outages answer 503 instead of hanging: opening a connection gives up after this long (libpq counts
    # 1 as 2), and PostgreSQL cancels a request's statement after the other (0: never).
    DATABASE_CONNECT_TIMEOUT_SECONDS: int = Field(default=5, ge=2)
    DATABASE_STATEMENT_TIMEOUT_SECONDS: int = Field(default=20, ge=0)
    # Once the replica could not be reached, catalog reads use the primary this long before trying it again.
    DATABASE_READ_FALLBACK_SECONDS: int = Field(default=5, ge=1)
    REDIS_URL: str | None = None
    # Namespace of every Redis key (revocation list, rate limits): lets apps or test runs share a Redis.
    REDIS_KEY_PREFIX: str = "shopwright"
    # An unreachable Redis host fails a call after this long instead of hanging the request.
    REDIS_TIMEOUT_SECONDS: float = Field(default=1.0, gt=0)

    # Anonymous catalog reads kept per worker, dropped on catalog changes (docs/operations.md, Catalog
    # cache): an answer may show stock this many seconds old; each worker keeps this many answers.
    CATALOG_CACHE_ENABLED: bool = True
    CATALOG_CACHE_SECONDS: int = Field(default=5, ge=1, le=3600)
    CATALOG_CACHE_ENTRIES: int = Field(default=2000, ge=1)
    # Read the catalog version in Redis at most this often (0: on every cached read): a change committed
    # by another worker or host is served stale at most this long (bench/README.md: the GET per read
    # cost more than the rest of a cached answer).
    CATALOG_CACHE_VERSION_POLL_MS: int = Field(default=100, ge=0, le=60_000)

    SECRET_KEY: str = DEV_SECRET_KEY
    JWT_ACCESS_TTL_MINUTES: int = Field(default=15, ge=1)
    JWT_REFRESH_TTL_DAYS: int = Field(default=30, ge=1)

    PASSWORD_RESET_TTL_MINUTES: int = Field(default=60, ge=1)
    PASSWORD_RESET_URL: str = DEV_PASSWORD_RESET_URL
    # argon2id cost; lower only in tests (hashing dominates their run time otherwise).
    ARGON2_TIME_COST: int = Field(default=3, ge=1)
    ARGON2_MEMORY_KIB: int = Field(default=65536, ge=8)

    # Request bodies: larger ones are refused with 413 before they are read (docs/security.md).
    MAX_REQUEST_BYTES: int = Field(default=1024 * 1024, ge=1024)
    # The bulk product import's own, larger limit (an endpoint opts in with limits.body_limit).
    IMPORT_MAX_BYTES: int = Field(default=50 * 1024 * 1024, ge=1024)
    # What an XLSX upload may expand to (a ZIP bomb guard), and the rows a file may hold (both 413).
    IMPORT_MAX_UNCOMPRESSED_BYTES: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    IMPORT_MAX_ROWS: int = Field(default=1_000_000, ge=1)

    CORS_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    TRUSTED_PROXY_COUNT: int = Field(default=0, ge=0)

    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_AUTH: str = "10/minute"
    # POST /api/auth/password-reset: per client IP, and per target email whoever asks.
    RATE_LIMIT_PASSWORD_RESET: str = "5/minute;20/hour"
    RATE_LIMIT_PASSWORD_RESET_EMAIL: str = "3/hour"

    EMAIL_BACKEND: Literal["file", "smtp"] = "file"
    EMAIL_OUTBOX_DIR: str = "instance/outbox"
    EMAIL_FROM: str = "Shopwright <no-reply@shopwright.local>"
    SMTP_HOST: str = "127.0.0.1"
    SMTP_PORT: int = 25
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS: bool = False

    # Outgoing webhooks: `https` URLs resolving to public addresses only, unless this is true (development
    # and tests: then `http` and private, loopback or link-local addresses are allowed too).
    WEBHOOK_ALLOW_PRIVATE_URLS: bool = False
    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=30)

    # GET /metrics (Prometheus): when set, a scrape must send `Authorization: Bearer <token>`.
    METRICS_TOKEN: str | None = None
    # A Celery worker serves its own tasks' metrics (emails, webhook deliveries, carts) on this port when
    # set; with a pool of processes it needs PROMETHEUS_MULTIPROC_DIR (docs/operations.md, metrics).
    WORKER_METRICS_PORT: int | None = Field(default=None, ge=1, le=65535)

    # Who delivers outbox events (emails, webhooks) after a commit: `inline` (the web process, once the
    # response is sent) or `worker` (a Celery task is queued; needs a broker). Beat sweeps up either way.
    OUTBOX_DELIVERY: Literal["inline", "worker"] = "inline"
    # Delivered events are kept this long as an audit trail (name, time, tries; their payloads are erased
    # on delivery), then purged (docs/configuration.md, OUTBOX_RETENTION_DAYS).
    OUTBOX_RETENTION_DAYS: int = Field(default=90, ge=1)

    # Background jobs (Celery). The broker defaults to REDIS_URL; with neither, tasks run eagerly in-process
    # and periodic work runs from cron through the flask commands (docs/operations.md).
    CELERY_BROKER_URL: str | None = None
    CELERY_DELIVER_EVENTS_INTERVAL_SECONDS: int = Field(default=10, ge=1)
    CELERY_EXPIRE_CARTS_INTERVAL_SECONDS: int = Field(default=60, ge=1)

    # Cart: an untouched cart expires after this long and its reservations are released.
    CART_TTL_MINUTES: int = Field(default=15, ge=1)
    # Against stock hoarding: distinct lines a cart may hold, and how long after its first reservation
    # a cart's stock is held at most, however often it is touched (docs/security.md).
    CART_MAX_LINES: int = Field(default=100, ge=1)
    CART_MAX_HOLD_MINUTES: int = Field(default=120, ge=1)

    # Checkout: where the shop ships, what shipping costs, which tax applies (docs/configuration.md).
    # Country keys are ISO 3166-1 alpha-2 codes; "*" is every other country.
    SHIPPING_COUNTRIES: Annotated[list[str], NoDecode] = Field(default_factory=list)  # empty: ship everywhere
    # Bounded, so a typo cannot price an order past its cap (orders.pricing.MAX_ORDER_CENTS).
    SHIPPING_RATES_CENTS: dict[str, Annotated[int, Field(ge=0, le=MAX_SHIPPING_CENTS)]] = Field(
        default_factory=lambda: {"*": 500}
    )
    FREE_SHIPPING_THRESHOLD_CENTS: int | None = Field(default=10_000, ge=0)
    TAX_RATES_PERCENT: dict[str, Annotated[Decimal, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: {"*": Decimal(0)}
    )
    ORDER_PAYMENT_TIMEOUT_MINUTES: int = Field(default=30, ge=1)

    # Payments (payments domain settings go here).
    PAYMENT_PROVIDER: Literal["test", "stripe"] = "test"
    # Signs the test gateway's webhooks. Unset: the public development key in development, elsewhere a key
    # derived from SECRET_KEY (`_refuse_default_secrets`): the public key never verifies a webhook there.
    PAYMENT_WEBHOOK_SECRET: str = ""
    STRIPE_SECRET_KEY: str | None = None
    STRIPE_WEBHOOK_SECRET: str | None = None
    STRIPE_API_BASE: str | None = None  # e.g. a local stripe-mock; unset: Stripe's API

    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool = True

    @field_validator("CORS_ORIGINS", "SHIPPING_COUNTRIES", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("DATABASE_URL", "DATABASE_READ_URL")
    @classmethod
    def _psycopg3_driver(cls, value: str | None) -> str | None:
        # SQLAlchemy maps a bare postgresql:// to psycopg2, which we do not ship.
        for prefix in ("postgresql://", "postgres://"):
            if value is not None and value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.APP_ENV != "development" and self.SECRET_KEY == DEV_SECRET_KEY:
            raise InsecureSettings(f"SECRET_KEY must be set when APP_ENV={self.APP_ENV}")
        if len(self.SECRET_KEY.encode()) < 32:
            raise InsecureSettings("SECRET_KEY must be at least 32 bytes (HMAC-SHA256 key)")
        if self.APP_ENV == "production" and self.PASSWORD_RESET_URL == DEV_PASSWORD_RESET_URL:
            # Reset emails would link to 127.0.0.1: no customer could use them.
            raise InsecureSettings(
                "PASSWORD_RESET_URL must be set to your shop's page when APP_ENV=production"
            )
        if self.APP_ENV != "development" and self.PAYMENT_WEBHOOK_SECRET == DEV_PAYMENT_WEBHOOK_SECRET:
            raise InsecureSettings(
                f"PAYMENT_WEBHOOK_SECRET must not be the development key when APP_ENV={self.APP_ENV}"
            )
        if not self.PAYMENT_WEBHOOK_SECRET:
            self.PAYMENT_WEBHOOK_SECRET = (
                DEV_PAYMENT_WEBHOOK_SECRET
                if self.APP_ENV == "development"
                else hmac.new(self.SECRET_KEY.encode(), b"shopwright.payment-webhooks", "sha256").hexdigest()
            )
        if self.PAYMENT_PROVIDER == "stripe" and not (self.STRIPE_SECRET_KEY and self.STRIPE_WEBHOOK_SECRET):
            raise ValueError(
                "STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must be set with PAYMENT_PROVIDER=stripe"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the database is the embedded SQLite default."""
        return self.DATABASE_URL.startswith("sqlite")
