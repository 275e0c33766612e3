"""HTTP routes of /api/auth: registration, tokens, profile, passwords, address book."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import request
from flask_openapi import APIBlueprint, Tag

from shopwright.accounts import addresses, service, tokens
from shopwright.accounts.auth import (
    BEARER,
    current_claims,
    current_user_id,
    login_required,
    mint_tokens,
    refresh_ttl,
    revocation_store,
    verified_refresh_claims,
)
from shopwright.accounts.schemas import (
    AddressIn,
    AddressOut,
    AddressPath,
    AddressUpdate,
    ChangePasswordIn,
    LoginIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    ProfileUpdate,
    RefreshIn,
    RegisterIn,
    TokenOut,
    UserOut,
)
from shopwright.db import get_read_session, get_session
from shopwright.openapi import RATE_LIMITED
from shopwright.schemas import ItemList, Message
from shopwright.web import Result, no_content, respond

bp = APIBlueprint("accounts", __name__, url_prefix="/api/auth", abp_tags=[Tag(name="Accounts")])


@bp.post(
    "/register",
    summary="Register a customer account",
    operation_id="register",
    responses={201: UserOut, 429: RATE_LIMITED},
)
def register(body: RegisterIn) -> Result:
    user = service.register_user(get_session(), body)
    return respond(UserOut, user, 201)


@bp.post(
    "/login",
    summary="Log in and receive an access and a refresh token",
    operation_id="login",
    responses={200: TokenOut, 429: RATE_LIMITED},
)
def login(body: LoginIn) -> Result:
    grant = tokens.login(get_session(), body.email, body.password, refresh_ttl())
    return mint_tokens(grant)


@bp.post(
    "/refresh",
    summary="Rotate a refresh token (Bearer header or body) into a new token pair",
    operation_id="refreshTokens",
    responses={200: TokenOut},
    security=BEARER,
    request_body={
        "required": False,
        "content": {"application/json": {"schema": RefreshIn.model_json_schema()}},
    },
)
def refresh() -> Result:
    # The body is optional here (the token may come in the Authorization header), so parse it by hand.
    body = RefreshIn.model_validate(request.get_json(silent=True) or {})
    claims = verified_refresh_claims(body.refresh_token)
    grant = tokens.refresh(get_session(), revocation_store(), claims["jti"], refresh_ttl())
    return mint_tokens(grant)


@bp.post(
    "/logout",
    summary="Revoke the access token and its login's refresh tokens",
    operation_id="logout",
    security=BEARER,
    responses={200: Message},
)
@login_required
def logout() -> Result:
    claims = current_claims()
    tokens.logout(
        get_session(),
        revocation_store(),
        jti=claims["jti"],
        family_id=claims["fam"],
        access_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        refresh_ttl=refresh_ttl(),
    )
    return {"detail": "Logged out"}


@bp.get(
    "/me",
    summary="Get the current user's profile",
    operation_id="getProfile",
    security=BEARER,
    responses={200: UserOut},
)
@login_required
def get_me() -> Result:
    profile = service.get_profile(get_read_session(fresh=True), current_user_id())
    return respond(UserOut, profile)


@bp.put(
    "/me",
    summary="Update the current user's name or email (as PATCH: fields left out are kept)",
    operation_id="replaceProfile",
    security=BEARER,
    responses={200: UserOut},
)
@bp.patch(
    "/me",
    summary="Update the current user's name or email",
    operation_id="updateProfile",
    security=BEARER,
    responses={200: UserOut},
)
@login_required
def update_me(body: ProfileUpdate) -> Result:
    user = service.update_profile(
        get_session(),
        revocation_store(),
        current_user_id(),
        body,
        current_family_id=current_claims()["fam"],
        refresh_ttl=refresh_ttl(),
    )
    return respond(UserOut, user)


@bp.delete(
    "/me",
    summary="Delete the current account and erase its personal data",
    operation_id="deleteAccount",
    security=BEARER,
    responses={204: None},
)
@login_required
def delete_me() -> Result:
    service.delete_account(get_session(), revocation_store(), current_user_id(), refresh_ttl())
    return no_content()


@bp.post(
    "/change-password",
    summary="Change password; other sessions are logged out",
    operation_id="changePassword",
    security=BEARER,
    responses={200: Message},
)
@login_required
def change_password(body: ChangePasswordIn) -> Result:
    tokens.change_password(
        get_session(),
        revocation_store(),
        current_user_id(),
        current_family_id=current_claims()["fam"],
        current_password=body.current_password,
        new_password=body.new_password,
        refresh_ttl=refresh_ttl(),
    )
    return {"detail": "Password changed; other sessions were logged out"}


@bp.post(
    "/password-reset",
    summary="Email a password reset link (always 202)",
    operation_id="requestPasswordReset",
    responses={202: Message},
)
def request_password_reset(body: PasswordResetIn) -> Result:
    tokens.request_password_reset(get_session(), body.email)
    return {"detail": "If the email belongs to an account, a reset link is on its way"}, 202


@bp.post(
    "/password-reset/confirm",
    summary="Set a new password with a reset token",
    operation_id="confirmPasswordReset",
    responses={200: Message},
)
def confirm_password_reset(body: PasswordResetConfirmIn) -> Result:
    tokens.confirm_password_reset(
        get_session(), revocation_store(), body.token, body.new_password, refresh_ttl()
    )
    return {"detail": "Password changed; log in with the new password"}


@bp.get(
    "/me/addresses",
    summary="List the address book",
    operation_id="listAddresses",
    security=BEARER,
    responses={200: ItemList[AddressOut]},
)
@login_required
def list_addresses() -> Result:
    items = addresses.list_addresses(get_session(), current_user_id())
    return respond(ItemList[AddressOut], {"items": items})


@bp.post(
    "/me/addresses",
    summary="Add an address",
    operation_id="createAddress",
    security=BEARER,
    responses={201: AddressOut},
)
@login_required
def add_address(body: AddressIn) -> Result:
    address = addresses.add_address(get_session(), current_user_id(), body)
    return respond(AddressOut, address, 201)


@bp.patch(
    "/me/addresses/<int:address_id>",
    summary="Update an address",
    operation_id="updateAddress",
    security=BEARER,
    responses={200: AddressOut},
)
@login_required
def update_address(path: AddressPath, body: AddressUpdate) -> Result:
    address = addresses.update_address(get_session(), current_user_id(), path.address_id, body)
    return respond(AddressOut, address)


@bp.delete(
    "/me/addresses/<int:address_id>",
    summary="Delete an address",
    operation_id="deleteAddress",
    security=BEARER,
    responses={204: None},
)
@login_required
def delete_address(path: AddressPath) -> Result:
    addresses.delete_address(get_session(), current_user_id(), path.address_id)
    return no_content()
