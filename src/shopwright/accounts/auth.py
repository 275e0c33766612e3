"""JWT wiring (flask-jwt-extended): minting token pairs, the revocation check, role decorators.

Decorators decode and check the token; they never query the database (the revocation list is one
Redis MGET, or one small query on the embedded default).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import jwt
from flask import Flask, current_app, g, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_jwt,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from shopwright.accounts.errors import AdminRequired, InvalidToken
from shopwright.accounts.revocation import RevocationStore, now_ms
from shopwright.accounts.tokens import Grant
from shopwright.config import Settings
from shopwright.errors import Unauthorized, as_response, problem_for

P = ParamSpec("P")
R = TypeVar("R")
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]  # OpenAPI security requirement for protected routes
# Set by the decorators on the view; functools.wraps carries it to flask-openapi's view function.
_AUTH_ATTRIBUTE = "shopwright_auth"
_CLAIMS_ATTRIBUTE = "shopwright_claims"  # on flask.g: the claims of the request's verified access token
ALGORITHM = "HS256"
TOKEN_REFUSED = "Missing, invalid, expired or revoked token"


def init_auth(app: Flask, settings: Settings, revocations: RevocationStore) -> None:
    """Configure flask-jwt-extended: HS256 with SECRET_KEY, problem+json errors, the revocation list."""
    app.config.update(
        JWT_SECRET_KEY=settings.SECRET_KEY,
        JWT_ALGORITHM=ALGORITHM,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.JWT_ACCESS_TTL_MINUTES),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.JWT_REFRESH_TTL_DAYS),
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ERROR_MESSAGE_KEY="detail",
    )
    app.extensions["shopwright.revocations"] = revocations
    manager = JWTManager(app)
    app.before_request(enforce_auth)

    @manager.token_in_blocklist_loader
    def _is_revoked(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
        return revocations.is_revoked(claims["jti"], claims.get("fam"), claims["sub"], issued_at_ms(claims))

    # flask-jwt-extended answers some token problems with 422; every one of them is a 401 here.
    def _unauthorized(*_args: Any) -> Any:
        return as_response(problem_for(Unauthorized(TOKEN_REFUSED)))

    for loader in (
        manager.expired_token_loader,
        manager.invalid_token_loader,
        manager.unauthorized_loader,
        manager.revoked_token_loader,
        manager.needs_fresh_token_loader,
        manager.token_verification_failed_loader,
        manager.user_lookup_error_loader,
    ):
        loader(_unauthorized)


def revocation_store() -> RevocationStore:
    """Return the app's revocation list."""
    store: RevocationStore = current_app.extensions["shopwright.revocations"]
    return store


def refresh_ttl() -> timedelta:
    """Return how long a refresh token (and so a revocation of one) lives."""
    ttl: timedelta = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    return ttl


def mint_tokens(grant: Grant) -> dict[str, Any]:
    """Return the token pair for a grant, as the login and refresh endpoints answer it."""
    claims = {"role": grant.role, "fam": grant.family_id, "iat_ms": now_ms()}
    access_ttl: timedelta = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(str(grant.user_id), additional_claims=claims),
        "refresh_token": create_refresh_token(
            str(grant.user_id),
            additional_claims={**claims, "jti": grant.refresh_jti},
            expires_delta=grant.refresh_expires_at - datetime.now(UTC),
        ),
        "token_type": "Bearer",
        "expires_in": int(access_ttl.total_seconds()),
    }


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
    # One verified decode of the Bearer access token: flask-jwt-extended's verify_jwt_in_request parses it
    # four times (claims and header unverified, claims verified, header again) on every protected call.
    # The checks are its checks: signature, exp/nbf/iat, a str subject, an access token, not revoked.
    try:
        claims: dict[str, Any] = jwt.decode(
            _bearer_token(),
            current_app.config["JWT_SECRET_KEY"],
            algorithms=[ALGORITHM],
            options={"require": ["sub", "jti", "iat"]},
        )
    except PyJWTError as error:
        raise Unauthorized(TOKEN_REFUSED) from error
    if claims.get("type", "access") != "access" or revocation_store().is_revoked(
        claims["jti"], claims.get("fam"), claims["sub"], issued_at_ms(claims)
    ):
        raise Unauthorized(TOKEN_REFUSED)
    setattr(g, _CLAIMS_ATTRIBUTE, claims)
    return claims


def _bearer_token() -> str:
    # Read as flask-jwt-extended reads it: the one "Bearer <JWT>" among comma-separated credentials.
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
    """Return the verified claims of the current token."""
    claims: dict[str, Any] | None = g.get(_CLAIMS_ATTRIBUTE)
    if claims is None:  # verified by flask-jwt-extended (a refresh token), or by nobody: get_jwt raises
        claims = get_jwt()
    return claims


def verified_refresh_claims(body_token: str | None) -> dict[str, Any]:
    """Verify a refresh token from the Authorization header or, failing that, the request body."""
    if body_token is None:
        verify_jwt_in_request(refresh=True)
        refresh_claims: dict[str, Any] = get_jwt()
        return refresh_claims
    try:
        claims: dict[str, Any] = decode_token(body_token)
    except (PyJWTError, JWTExtendedException) as error:
        raise InvalidToken("Refresh token is invalid or expired") from error
    if claims.get("type") != "refresh" or revocation_store().is_revoked(
        claims["jti"], claims.get("fam"), claims["sub"], issued_at_ms(claims)
    ):
        raise InvalidToken("Refresh token is invalid or expired")
    return claims
