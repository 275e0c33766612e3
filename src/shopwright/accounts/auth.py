"""JWTs (PyJWT, HS256 with SECRET_KEY): minting token pairs, verifying them, role decorators.

One verification for both token types: signature, exp/nbf/iat, a str subject, the `type` claim, and the
revocation list (one Redis MGET, or one small query on the embedded default). Decorators never query the
user table.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import jwt
from flask import Flask, current_app, g, request
from jwt import PyJWTError

from shopwright.accounts.errors import AdminRequired, InvalidToken
from shopwright.accounts.revocation import RevocationStore, now_ms
from shopwright.accounts.tokens import Grant
from shopwright.config import Settings
from shopwright.errors import Unauthorized

P = ParamSpec("P")
R = TypeVar("R")
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]  # OpenAPI security requirement for protected routes
# Set by the decorators on the view; functools.wraps carries it to flask-openapi's view function.
_AUTH_ATTRIBUTE = "shopwright_auth"
_CLAIMS_ATTRIBUTE = "shopwright_claims"  # on flask.g: the claims of the request's verified access token
_TOKENS_KEY = "shopwright.tokens"
_REVOCATIONS_KEY = "shopwright.revocations"
ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
TOKEN_REFUSED = "Missing, invalid, expired or revoked token"
REFRESH_REFUSED = "Refresh token is invalid or expired"


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """How tokens are signed and how long each type lives."""

    secret: str
    access_ttl: timedelta
    refresh_ttl: timedelta


def init_auth(app: Flask, settings: Settings, revocations: RevocationStore) -> None:
    """Sign tokens with SECRET_KEY, keep the revocation list, check every protected route's token."""
    app.extensions[_TOKENS_KEY] = TokenSettings(
        secret=settings.SECRET_KEY,
        access_ttl=timedelta(minutes=settings.JWT_ACCESS_TTL_MINUTES),
        refresh_ttl=timedelta(days=settings.JWT_REFRESH_TTL_DAYS),
    )
    app.extensions[_REVOCATIONS_KEY] = revocations
    app.before_request(enforce_auth)


def _token_settings() -> TokenSettings:
    tokens: TokenSettings = current_app.extensions[_TOKENS_KEY]
    return tokens


def revocation_store() -> RevocationStore:
    """Return the app's revocation list."""
    store: RevocationStore = current_app.extensions[_REVOCATIONS_KEY]
    return store


def refresh_ttl() -> timedelta:
    """Return how long a refresh token (and so a revocation of one) lives."""
    return _token_settings().refresh_ttl


def mint_tokens(grant: Grant) -> dict[str, Any]:
    """Return the token pair for a grant, as the login and refresh endpoints answer it."""
    tokens = _token_settings()
    claims = {"sub": str(grant.user_id), "role": grant.role, "fam": grant.family_id, "iat_ms": now_ms()}
    return {
        "access_token": _encode(tokens.secret, ACCESS, str(uuid.uuid4()), tokens.access_ttl, claims),
        "refresh_token": _encode(
            tokens.secret,
            REFRESH,
            grant.refresh_jti,
            grant.refresh_expires_at - datetime.now(UTC),
            claims,
        ),
        "token_type": "Bearer",
        "expires_in": int(tokens.access_ttl.total_seconds()),
    }


def _encode(secret: str, token_type: str, jti: str, ttl: timedelta, claims: dict[str, Any]) -> str:
    # Tokens minted by flask-jwt-extended (before 2026-12) also carry `fresh` and `csrf`: nothing reads them.
    now = datetime.now(UTC)
    registered = {"iat": now, "nbf": now, "exp": now + ttl, "jti": jti, "type": token_type}
    return jwt.encode({**registered, **claims}, secret, algorithm=ALGORITHM)


def verified_claims(token: str, token_type: str) -> dict[str, Any] | None:
    """Return the claims of `token` if it is a valid, unrevoked token of `token_type`, else None."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _token_settings().secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "jti", "iat"]},
        )
    except PyJWTError:
        return None
    if claims.get("type", ACCESS) != token_type or revocation_store().is_revoked(
        claims["jti"], claims.get("fam"), claims["sub"], issued_at_ms(claims)
    ):
        return None
    return claims


def issued_at_ms(claims: dict[str, Any]) -> int:
    """Return when a token was minted, in ms (see revocation.now_ms)."""
    return int(claims.get("iat_ms", int(claims["iat"]) * 1000))


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """Require a valid, unrevoked access token (any role)."""
    view.__dict__[_AUTH_ATTRIBUTE] = "login"
    return view


def admin_required(view: Callable[P, R]) -> Callable[P, R]:
    """Require a valid access token with the admin role."""
    view.__dict__[_AUTH_ATTRIBUTE] = "admin"
    return view


def enforce_auth() -> None:
    """Check the token a route asks for, before its input is validated (so anonymous gets 401, not 422)."""
    view = current_app.view_functions.get(request.endpoint or "")
    required = getattr(view, _AUTH_ATTRIBUTE, None)
    # A CORS preflight carries no token and runs no view: the request it announces is checked itself.
    if required is None or request.method == "OPTIONS":
        return
    claims = _verified_access_claims()
    if required == "admin" and claims.get("role") != "admin":
        raise AdminRequired("This endpoint is for admins")


def _verified_access_claims() -> dict[str, Any]:
    claims = verified_claims(_bearer_token(), ACCESS)
    if claims is None:
        raise Unauthorized(TOKEN_REFUSED)
    setattr(g, _CLAIMS_ATTRIBUTE, claims)
    return claims


def _bearer_token() -> str:
    # The one "Bearer <JWT>" among comma-separated credentials (RFC 9110 allows a list).
    header = request.headers.get("Authorization", "").strip().strip(",")
    fields = [field.split() for field in re.split(r",\s*", header)]
    bearers = [parts for parts in fields if parts and parts[0] == "Bearer"]
    if len(bearers) != 1 or len(bearers[0]) != 2:
        raise Unauthorized(TOKEN_REFUSED)
    return bearers[0][1]


def is_authenticated() -> bool:
    """Tell whether this request presented a valid access token (checked by a protected route)."""
    return g.get(_CLAIMS_ATTRIBUTE) is not None


def current_user_id() -> int:
    """Return the id of the authenticated user."""
    return int(current_claims()["sub"])


def current_claims() -> dict[str, Any]:
    """Return the verified claims of the current access token (a protected route's)."""
    claims: dict[str, Any] | None = g.get(_CLAIMS_ATTRIBUTE)
    if claims is None:  # a route without login_required asked: a bug, not the client's fault
        raise RuntimeError("current_claims() needs a route marked login_required or admin_required")
    return claims


def verified_refresh_claims(body_token: str | None) -> dict[str, Any]:
    """Verify a refresh token from the Authorization header or, failing that, the request body."""
    if body_token is None:
        header_claims = verified_claims(_bearer_token(), REFRESH)
        if header_claims is None:
            raise Unauthorized(TOKEN_REFUSED)
        return header_claims
    claims = verified_claims(body_token, REFRESH)
    if claims is None:
        raise InvalidToken(REFRESH_REFUSED)
    return claims
