"""Account input schemas, without a database: password policy, email normalisation, countries, strictness."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shopwright.accounts.schemas import (
    AddressIn,
    AddressUpdate,
    ChangePasswordIn,
    LoginIn,
    PasswordResetConfirmIn,
    ProfileUpdate,
    RegisterIn,
    normalise_email,
)

ADDRESS = {
    "full_name": "Ann",
    "line1": "Main St 1",
    "city": "Pristina",
    "postal_code": "10000",
    "country": "DE",
}


def _error_fields(model: type[BaseModel], data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {".".join(str(part) for part in error["loc"]) for error in caught.value.errors()}


def _error_types(model: type[BaseModel], data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {error["type"] for error in caught.value.errors()}


@pytest.mark.parametrize(
    "password",
    [
        "abcdefg1",
        "Passw0rd-ok",
        "pässwört1",
        "пароль123",  # noqa: RUF001 (Cyrillic letters on purpose)
        "密码密码密码密码1",
        "ΑΒΓΔΕΖΗ9",  # noqa: RUF001 (Greek letters on purpose)
        "a" * 127 + "1",
        " spaced 1 ",
    ],
)
def test_password_policy_accepts(password: str) -> None:
    data = RegisterIn(email="a@example.com", password=password)

    assert data.password == password  # never trimmed or altered


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("abcdef1", id="seven-chars"),
        pytest.param("abcdefgh", id="no-digit"),
        pytest.param("пароль-без-цифр", id="unicode-no-digit"),
        pytest.param("12345678", id="no-letter"),
        pytest.param("1234_5678", id="underscore-not-a-letter"),
        pytest.param("!!!!@@@@1", id="symbols-and-digit"),
        pytest.param("a" * 128 + "1", id="129-chars"),
        pytest.param("", id="empty"),
    ],
)
def test_password_policy_refuses(password: str) -> None:
    assert _error_fields(RegisterIn, {"email": "a@example.com", "password": password}) == {"password"}


def test_the_same_policy_guards_every_new_password() -> None:
    assert _error_fields(ChangePasswordIn, {"current_password": "x", "new_password": "abcdefgh"}) == {
        "new_password"
    }
    assert _error_fields(PasswordResetConfirmIn, {"token": "t", "new_password": "1234567"}) == {
        "new_password"
    }
    # The current password is only checked, never judged: old accounts may predate the policy.
    assert ChangePasswordIn(current_password="x", new_password="abcdefg1").current_password == "x"
    assert LoginIn(email="a@example.com", password="x").password == "x"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("  Bob@Example.COM ", "bob@example.com"),
        ("ALICE@EXAMPLE.COM", "alice@example.com"),
        ("simple@example.com", "simple@example.com"),
    ],
)
def test_emails_are_normalised(given: str, stored: str) -> None:
    assert RegisterIn(email=given, password="abcdefg1").email == stored
    assert ProfileUpdate(email=given).email == stored
    assert normalise_email(given) == stored


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@", "@example.com", "a b@example.com", "", "a" * 310 + "@example.com"]
)
def test_invalid_emails_are_refused(email: str) -> None:
    assert _error_fields(RegisterIn, {"email": email, "password": "abcdefg1"}) == {"email"}
    assert _error_fields(ProfileUpdate, {"email": email}) == {"email"}


@pytest.mark.parametrize(
    ("given", "stored"), [("DE", "DE"), ("de", "DE"), ("us", "US"), ("XK", "XK"), ("xk", "XK")]
)
def test_country_codes_are_accepted_in_upper_case(given: str, stored: str) -> None:
    assert AddressIn.model_validate({**ADDRESS, "country": given}).country == stored
    assert AddressUpdate(country=given).country == stored


@pytest.mark.parametrize("country", ["ZZ", "DEU", "", "D", "XX", "276", " ", "D1"])
def test_unknown_country_codes_are_refused(country: str) -> None:
    assert _error_fields(AddressIn, {**ADDRESS, "country": country}) == {"country"}
    assert _error_fields(AddressUpdate, {"country": country}) == {"country"}


def test_a_country_must_be_a_string() -> None:
    assert _error_fields(AddressIn, {**ADDRESS, "country": 49}) == {"country"}


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (RegisterIn, {"email": "a@example.com", "password": "abcdefg1", "role": "admin"}),
        (LoginIn, {"email": "a@example.com", "password": "x", "remember_me": True}),
        (ProfileUpdate, {"full_name": "A", "is_active": False}),
        (AddressIn, {**ADDRESS, "user_id": 7}),
        (AddressUpdate, {"city": "X", "id": 3}),
        (ChangePasswordIn, {"current_password": "x", "new_password": "abcdefg1", "user_id": 1}),
    ],
)
def test_extra_fields_are_refused(model: type[BaseModel], data: dict[str, Any]) -> None:
    assert _error_types(model, data) == {"extra_forbidden"}


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "1", None])
def test_is_default_is_a_strict_boolean(value: object) -> None:
    assert _error_fields(AddressIn, {**ADDRESS, "is_default": value}) == {"is_default"}


def test_is_default_defaults_to_false() -> None:
    assert AddressIn.model_validate(ADDRESS).is_default is False
    assert AddressIn.model_validate({**ADDRESS, "is_default": True}).is_default is True


def test_address_strings_are_trimmed_and_bounded() -> None:
    address = AddressIn.model_validate({**ADDRESS, "city": "  Berlin  "})

    assert address.city == "Berlin"
    assert _error_fields(AddressIn, {**ADDRESS, "city": "   "}) == {"city"}
    assert _error_fields(AddressIn, {**ADDRESS, "postal_code": "1" * 21}) == {"postal_code"}
    assert _error_fields(AddressIn, {**ADDRESS, "postal_code": 10115}) == {"postal_code"}


def test_address_requires_its_fields() -> None:
    assert _error_fields(AddressIn, {}) == {"full_name", "line1", "city", "postal_code", "country"}


@pytest.mark.parametrize("field", ["full_name", "line1", "city", "postal_code", "country", "is_default"])
def test_address_update_refuses_null_for_required_fields(field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field} cannot be null"):
        AddressUpdate.model_validate({field: None})


def test_address_update_allows_null_for_optional_fields_and_tracks_what_was_sent() -> None:
    update = AddressUpdate.model_validate({"line2": None, "phone": None, "city": "Hamburg"})

    assert update.model_dump(exclude_unset=True) == {"line2": None, "phone": None, "city": "Hamburg"}


def test_profile_update_names() -> None:
    assert ProfileUpdate(full_name="  Ann  ").full_name == "Ann"
    assert ProfileUpdate.model_validate({}).model_fields_set == set()
    assert _error_fields(ProfileUpdate, {"full_name": ""}) == {"full_name"}
    assert _error_fields(ProfileUpdate, {"full_name": "n" * 201}) == {"full_name"}
    assert _error_fields(ProfileUpdate, {"full_name": 3}) == {"full_name"}


def test_the_placeholder_of_deleted_accounts_cannot_be_claimed() -> None:
    # Deleting an account renames it to deleted-user-<id>@deleted.invalid; nobody may take that first.
    placeholder = "deleted-user-1@deleted.invalid"

    assert _error_fields(RegisterIn, {"email": placeholder, "password": "abcdefg1"}) == {"email"}
    assert _error_fields(ProfileUpdate, {"email": placeholder}) == {"email"}
