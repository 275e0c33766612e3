"""The application factory: settings, database, errors, auth, rate limits, routes, docs, CLI."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
import structlog
from flask import Flask, Response, after_this_request, current_app, g, has_request_context, request
from flask.sessions import NullSession, SessionInterface
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_openapi import Info, OpenAPI, Tag
from flask_openapi_swagger.templates import swagger_html_string
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import BadRequest, HTTPException, UnsupportedMediaType
from werkzeug.middleware.proxy_fix import ProxyFix

from shopwright import cli, limits, monitoring, outbox
from shopwright.accounts import passwords, tokens
from shopwright.accounts import routes as accounts_routes
from shopwright.accounts.auth import init_auth, is_authenticated
from shopwright.accounts.revocation import DatabaseRevocations, RedisRevocations, RevocationStore
from shopwright.accounts.schemas import normalise_email
from shopwright.accounts.tokens import PASSWORD_RESET_REQUESTED
from shopwright.admin import routes as admin_routes
from shopwright.admin_ui import routes as admin_ui_routes
from shopwright.cart import routes as cart_routes
from shopwright.catalog import routes as catalog_routes
from shopwright.catalog.cache import CatalogCache
from shopwright.config import Settings
from shopwright.db import (
    close_session,
    get_session,
    make_engine,
    make_read_sessionmaker,
    make_sessionmaker,
)
from shopwright.errors import (
    InvalidRequest,
    ShopError,
    as_response,
    problem,
    problem_for,
    problem_for_http,
    validation_problem,
)
from shopwright.inventory import routes as inventory_routes
from shopwright.notifications import routes as notifications_routes
from shopwright.notifications import subscriptions
from shopwright.notifications.email import EmailSender, make_email_sender
from shopwright.observability import configure_logging, get_logger, request_id_from
from shopwright.openapi import finish_document, text_answer
from shopwright.orders import routes as orders_routes
from shopwright.payments import routes as payments_routes
from shopwright.payments.gateway import make_gateway
from shopwright.promotions import routes as promotions_routes
from shopwright.reports import routes as reports_routes
from shopwright.schemas import Health

log = get_logger(__name__)
PROBLEMS_FILE = Path(__file__).resolve().parents[2] / "docs" / "problems.md"
# Swagger UI served at /api/docs with absolute asset paths, so a trailing slash does not break it.
DOCS_HTML = swagger_html_string.replace('"swagger/', '"/api/swagger/')
META = Tag(name="Meta", description="Health, the API reference and the problem catalogue")


def create_app(
    settings: Settings | None = None,
    sessions: sessionmaker[Session] | None = None,
    email_sender: EmailSender | None = None,
    read_sessions: sessionmaker[Session] | None = None,
) -> Flask:
    """Build a configured Shopwright app; tests pass their own settings, sessions or email sender."""
    settings = settings or Settings()
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)
    passwords.configure(time_cost=settings.ARGON2_TIME_COST, memory_kib=settings.ARGON2_MEMORY_KIB)
    if sessions is None:
        engine = make_engine(
            settings.DATABASE_URL,
            pool_size=settings.DATABASE_POOL_SIZE,
            echo=settings.DATABASE_ECHO,
            pre_ping=settings.DATABASE_POOL_PRE_PING,
            connect_timeout=settings.DATABASE_CONNECT_TIMEOUT_SECONDS,
            statement_timeout=settings.DATABASE_STATEMENT_TIMEOUT_SECONDS,
        )
        sessions = make_sessionmaker(engine)

    app = OpenAPI(
        __name__,
        info=Info(title="Shopwright API", version="0.1.0", description="E-commerce REST API backend"),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        doc_prefix="/api",
        doc_url="/openapi.json",
        validation_error_callback=_validation_error_response,
    )
    app.openapi_version = "3.1.0"
    app.url_map.strict_slashes = False  # /x and /x/ both answer, with no redirect
    app.url_map.converters["int"] = limits.AsciiIntConverter  # before any route: rules bind it then
    app.json = limits.BoundedJSONProvider(app)
    app.json.sort_keys = False
    app.config.update(SECRET_KEY=settings.SECRET_KEY, SWAGGER_CONFIG={"validatorUrl": None})
    app.session_interface = _NoCookieSession()
    app.extensions["shopwright.settings"] = settings
    app.extensions["shopwright.sessions"] = sessions
    reads = read_sessions or make_read_sessionmaker(settings, sessions)
    app.extensions["shopwright.read_sessions"] = reads
    # Reads that must see the latest commit: the same pool, unless that pool is a replica.
    app.extensions["shopwright.fresh_read_sessions"] = sessions if settings.DATABASE_READ_URL else reads
    app.extensions["shopwright.gateway"] = make_gateway(settings, settings.PAYMENT_PROVIDER)
    if settings.TRUSTED_PROXY_COUNT:
        n = settings.TRUSTED_PROXY_COUNT
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    redis_client = (
        redis.Redis.from_url(settings.REDIS_URL, **_redis_timeouts(settings)) if settings.REDIS_URL else None
    )
    app.extensions["shopwright.redis"] = redis_client
    revocations: RevocationStore = (
        RedisRevocations(redis_client, settings.REDIS_KEY_PREFIX, copy=DatabaseRevocations(sessions))
        if redis_client
        else DatabaseRevocations(sessions)
    )

    app.extensions["shopwright.catalog_cache"] = _catalog_cache(settings, sessions, redis_client)
    _init_request_hooks(app, settings)
    init_auth(app, settings, revocations)
    _init_errors(app)
    app.extensions["shopwright.email_sender"] = email_sender or make_email_sender(settings)
    _init_outbox(app, settings, sessions, app.extensions["shopwright.email_sender"])
    if settings.CORS_ORIGINS:  # no CORS headers (and no per-response work) unless origins are allowed
        CORS(
            app,
            resources={r"/api/*": {"origins": settings.CORS_ORIGINS}},
            expose_headers=["X-Request-ID", "ETag"],
        )

    app.register_api(accounts_routes.bp)
    app.register_api(catalog_routes.products_bp)
    app.register_api(catalog_routes.categories_bp)
    app.register_api(cart_routes.bp)
    app.register_api(orders_routes.bp)
    app.register_api(payments_routes.bp)
    app.register_api(admin_routes.bp)
    app.register_api(inventory_routes.bp)
    app.register_api(promotions_routes.bp)
    app.register_api(notifications_routes.bp)
    app.register_api(reports_routes.bp)
    app.register_blueprint(admin_ui_routes.bp)  # the back-office page: HTML, not part of the API
    _init_meta_routes(app)
    monitoring.init_metrics(app, sessions, settings.METRICS_TOKEN, META)
    _init_rate_limits(app, settings)
    finish_document(app.api_doc)  # built once, after every route is registered, then served as is
    cli.register(app)
    app.teardown_appcontext(close_session)
    return app


def _catalog_cache(
    settings: Settings, sessions: sessionmaker[Session], client: redis.Redis | None
) -> CatalogCache | None:
    """Return the catalog cache (CATALOG_CACHE_*), wired to the sessions whose commits drop its answers."""
    if not settings.CATALOG_CACHE_ENABLED:
        return None
    cache = CatalogCache(
        seconds=settings.CATALOG_CACHE_SECONDS,
        entries=settings.CATALOG_CACHE_ENTRIES,
        client=client,
        key_prefix=settings.REDIS_KEY_PREFIX,
        poll_seconds=settings.CATALOG_CACHE_VERSION_POLL_MS / 1000,
    )
    cache.attach(sessions)
    return cache


class _NoCookieSession(SessionInterface):
    """Flask's cookie session, switched off: a token API keeps no session (and it cost every request time)."""

    def open_session(self, app: Flask, request: Any) -> NullSession:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def _init_request_hooks(app: Flask, settings: Settings) -> None:
    # With a list of origins, an answer depends on the request's Origin (CORS headers or none): caches
    # must key on it, also for answers without CORS headers. A wildcard answers every origin alike.
    vary_origin = bool(settings.CORS_ORIGINS) and "*" not in settings.CORS_ORIGINS

    @app.before_request
    def _start() -> None:
        g.request_id = request_id_from(request.headers.get("X-Request-ID"))
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)
        limits.limit_body()
        _reject_unreadable_body()
        _reject_repeated_parameters()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Tokens, profiles, carts and orders: no cache (a browser's, a proxy's) may keep a copy.
        if request.blueprint == "accounts" or is_authenticated():
            response.headers["Cache-Control"] = "no-store"
        if vary_origin:
            response.vary.add("Origin")
        if response.status_code != 429:  # Flask-Limiter adds it to every limited route's answers
            response.headers.pop("Retry-After", None)
        if log.isEnabledFor(logging.INFO):  # structlog would build the event before dropping it
            elapsed_ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2)
            log.info(
                "request",
                method=request.method,
                path=request.path,
                status=response.status_code,
                ms=elapsed_ms,
            )
        return response


def _reject_unreadable_body() -> None:
    """Answer 400 for malformed JSON and 415 for bodies that are not JSON (multipart uploads aside)."""
    if request.method not in ("POST", "PUT", "PATCH") or (not request.content_length and not request.data):
        return
    if request.mimetype == "multipart/form-data":
        return
    if not request.is_json:
        raise UnsupportedMediaType("Send the request body as JSON (Content-Type: application/json)")
    request.get_json()  # raises BadRequest on malformed JSON; the parsed value is cached for the view


def _reject_repeated_parameters() -> None:
    """Answer 422 for a query parameter given twice: each takes one value, and which would win is a guess."""
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise InvalidRequest(
            f"Give each query parameter once: {', '.join(repeated)}",
            errors=[{"field": name, "message": "given more than once"} for name in repeated],
        )


def _validation_error_response(error: ValidationError) -> Response:
    body, status, headers = as_response(validation_problem(error))
    return Response(current_app.json.dumps(body), status=status, headers=headers)


def _init_errors(app: Flask) -> None:
    @app.errorhandler(ShopError)
    def _shop_error(error: ShopError) -> Any:
        return as_response(problem_for(error))

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError) -> Any:
        return as_response(validation_problem(error))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        if error.response is not None:  # flask-openapi's validation response, already problem+json
            return error.response
        status = error.code or 500
        limit = request.max_content_length
        detail = {
            400: error.description
            if isinstance(error, limits.NestedTooDeep) or not isinstance(error, BadRequest)
            else "The request body is not valid JSON",
            404: f"No route for {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"The request body is larger than {limit} bytes",
        }.get(status, error.description)
        headers = {k: v for k, v in error.get_headers() if k in ("Allow", "Retry-After")}
        return as_response(problem_for_http(status, detail), headers)

    @app.errorhandler(redis.RedisError)
    def _redis_down(error: redis.RedisError) -> Any:
        # A revocation (logout, password change) must reach Redis as well as its database copy, or a
        # token revoked now would pass again once Redis is back: the use case fails and changes nothing.
        log.error("redis_unavailable", error_type=type(error).__name__)
        return as_response(problem(503, "service_unavailable", "Service unavailable", "A dependency is down"))

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeoutError)
    def _database_down(error: Exception) -> Any:
        # The database went away, restarts, refuses connections or cancelled a statement that ran too
        # long: nothing committed, unless the connection broke during COMMIT itself (why checkouts and
        # payments take an Idempotency-Key: their retry then answers what the first attempt did).
        cause = getattr(error, "orig", None) or error
        log.error(
            "database_unavailable", error_type=type(cause).__name__, sqlstate=getattr(cause, "sqlstate", None)
        )
        return as_response(
            problem(
                503,
                "service_unavailable",
                "Service unavailable",
                "The database is unavailable; retry shortly",
            )
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unhandled_error", error_type=type(error).__name__)
        body = problem(
            500,
            "internal_error",
            "Internal server error",
            f"Something went wrong on our side (request id {g.get('request_id', '-')})",
        )
        return as_response(body)


def _init_outbox(
    app: Flask, settings: Settings, sessions: sessionmaker[Session], sender: EmailSender
) -> None:
    defer: outbox.Defer = _after_the_response
    if settings.OUTBOX_DELIVERY == "worker" and (settings.CELERY_BROKER_URL or settings.REDIS_URL):
        from shopwright import worker  # imported on use: only this mode needs Celery in the web process

        defer = worker.queue_deliveries(app, after_response=_after_the_response)
    box = outbox.Outbox(sessions, defer=defer)
    reset_ttl = timedelta(minutes=settings.PASSWORD_RESET_TTL_MINUTES)
    box.subscribe_in_transaction(
        PASSWORD_RESET_REQUESTED,
        lambda session, payload: tokens.issue_password_reset(
            session, payload, ttl=reset_ttl, reset_url=settings.PASSWORD_RESET_URL
        ),
    )
    subscriptions.subscribe(box, settings, sessions, sender)
    box.attach()
    app.extensions["shopwright.outbox"] = box


def _after_the_response(work: Callable[[], object]) -> None:
    """Run `work` once this request's response has been sent (now, outside a request).

    The outbox's in-process deliveries (emails) run there: a client does not wait for them, and how long
    it waits does not tell what they did (a password reset for a known email or an unknown one).
    """
    if not has_request_context():
        work()
        return

    @after_this_request
    def _on_close(response: Response) -> Response:
        response.call_on_close(work)
        return response


def _init_meta_routes(app: OpenAPI) -> None:
    @app.get(
        "/api/health",
        summary="Liveness and database check (503 problem when a dependency is down)",
        operation_id="getHealth",
        tags=[META],
        responses={200: Health},
    )
    def health() -> Any:
        checks = {"database": _check(lambda: get_session().execute(text("SELECT 1")))}
        client = app.extensions["shopwright.redis"]
        if client is not None:
            checks["redis"] = _check(client.ping)
        if checks["database"] != "ok":
            return as_response(
                problem(503, "service_unavailable", "Service unavailable", "A dependency is down", **checks)
            )
        # Without Redis the API still serves (the revocation list's database copy, rate limits in memory):
        # degraded, not down, so that a load balancer keeps every app host in rotation.
        return {"status": "ok" if all(value == "ok" for value in checks.values()) else "degraded", **checks}

    @app.get(
        "/api/docs",
        summary="Interactive API documentation (works offline)",
        operation_id="getApiDocs",
        tags=[META],
        responses={200: text_answer("text/html", "The Swagger UI page")},
    )
    def docs() -> Any:
        html, policy = _docs_page(app)
        headers = {"Content-Security-Policy": policy, "X-Frame-Options": "DENY"}
        return Response(html, mimetype="text/html", headers=headers)

    @app.get(
        "/api/problems",
        summary="The catalogue of problem types (Markdown)",
        operation_id="getProblemCatalogue",
        tags=[META],
        responses={200: text_answer("text/markdown", "docs/problems.md")},
    )
    def problems() -> Any:
        if not PROBLEMS_FILE.exists():
            return as_response(problem_for_http(404, "The problem catalogue is not installed"))
        return Response(PROBLEMS_FILE.read_text(encoding="utf-8"), mimetype="text/markdown")


def _docs_page(app: Flask) -> tuple[str, str]:
    """Return the docs page (rendered once) and its Content-Security-Policy.

    Its assets are the app's own: scripts from this origin plus the page's one inline script, allowed by
    its hash. Swagger UI sets inline styles, hence 'unsafe-inline' for styles only.
    """
    cached: tuple[str, str] | None = app.extensions.get("shopwright.docs_page")
    if cached is not None:
        return cached
    from flask import render_template_string

    html = render_template_string(
        DOCS_HTML, doc_url="/api/openapi.json", swagger_config=app.config["SWAGGER_CONFIG"], oauth_config=None
    )
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    )
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    app.extensions["shopwright.docs_page"] = (html, policy)
    return html, policy


def _check(probe: Any) -> str:
    try:
        probe()
    except Exception:  # a health check reports any failure; it must never raise
        log.warning("health.check_failed", exc_info=True)
        return "unavailable"
    return "ok"


def _redis_timeouts(settings: Settings) -> dict[str, Any]:
    seconds = settings.REDIS_TIMEOUT_SECONDS
    return {"socket_connect_timeout": seconds, "socket_timeout": seconds}


def _init_rate_limits(app: Flask, settings: Settings) -> None:
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.REDIS_URL or "memory://",
        storage_options=_redis_timeouts(settings) if settings.REDIS_URL else {},
        in_memory_fallback_enabled=True,
        # A moving window: a burst across a minute boundary cannot double the allowance.
        strategy="moving-window",
        headers_enabled=True,
        key_prefix=settings.REDIS_KEY_PREFIX,
        enabled=settings.RATE_LIMIT_ENABLED,
    )
    app.extensions["shopwright.limiter"] = limiter  # Flask-Limiter only keeps a weak reference
    route_limits = {
        "accounts.login": [limiter.limit(settings.RATE_LIMIT_AUTH)],
        "accounts.register": [limiter.limit(settings.RATE_LIMIT_AUTH)],
        # Each 409 email_taken tells that an account exists: those answers count like logins.
        "accounts.update_me": [
            limiter.limit(settings.RATE_LIMIT_AUTH, deduct_when=lambda response: response.status_code == 409)
        ],
        # Per caller and per target: no inbox can be flooded with reset emails, from any number of IPs.
        "accounts.request_password_reset": [
            limiter.limit(settings.RATE_LIMIT_PASSWORD_RESET),
            limiter.limit(settings.RATE_LIMIT_PASSWORD_RESET_EMAIL, key_func=_reset_target),
        ],
    }
    for endpoint, decorators in route_limits.items():
        view = app.view_functions[endpoint]
        for decorate in decorators:
            view = decorate(view)  # type: ignore[assignment]
        app.view_functions[endpoint] = view


def _reset_target() -> str:
    """Key a password reset by the email it targets, normalised and hashed (no address kept in Redis)."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    target = normalise_email(email) if isinstance(email, str) else ""
    return "reset-target:" + hashlib.sha256(target.encode()).hexdigest()
