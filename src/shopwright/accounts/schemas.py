"""Account request and response schemas."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pycountry
from pydantic import AfterValidator, EmailStr, Field, StrictBool, StringConstraints, model_validator

from shopwright.schemas import InputModel, OutputModel, QueryModel, UTCTimestamp

_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")
# Kosovo uses the user-assigned code XK, which ISO 3166-1 (and so pycountry) does not list.
_EXTRA_COUNTRIES = frozenset({"XK"})


def normalise_email(value: str) -> str:
    """Return the canonical form under which an email is stored and looked up."""
    return value.strip().lower()


def _password_policy(value: str) -> str:
    if not (_LETTER.search(value) and _DIGIT.search(value)):
        raise ValueError("must contain at least one letter and one digit")
    return value


def _country_code(value: str) -> str:
    code = value.upper()
    if len(code) != 2 or not (code in _EXTRA_COUNTRIES or pycountry.countries.get(alpha_2=code)):
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, like 'US' or 'DE'")
    return code


Email = Annotated[EmailStr, StringConstraints(max_length=320), AfterValidator(normalise_email)]
# Lengths are counted in characters; 128 keeps argon2 input bounded.
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=128, strip_whitespace=False),
    AfterValidator(_password_policy),
]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=1024, strip_whitespace=False)]
FullName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
CountryCode = Annotated[str, AfterValidator(_country_code)]
# The parts of a postal address: the address book's and an order's shipping address share them.
AddressLabel = Annotated[str, StringConstraints(max_length=50)]
AddressLine = Annotated[str, StringConstraints(min_length=1, max_length=200)]
AddressExtraLine = Annotated[str, StringConstraints(max_length=200)]
City = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Region = Annotated[str, StringConstraints(max_length=100)]
PostalCode = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Phone = Annotated[str, StringConstraints(max_length=40)]


class RegisterIn(InputModel):
    email: Email
    password: Password
    full_name: FullName | None = None


class LoginIn(InputModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: AnyPassword


class RefreshIn(InputModel):
    refresh_token: str | None = None


class TokenOut(OutputModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class UserOut(OutputModel):
    id: int
    email: str
    full_name: str | None
    role: str
    is_active: bool
    created_at: UTCTimestamp


class RoleIn(InputModel):
    role: Literal["customer", "admin"]


class ProfileUpdate(InputModel):
    email: Email | None = None
    full_name: FullName | None = None
    current_password: AnyPassword | None = Field(
        default=None, description="Required to change the email (a stolen session alone cannot)"
    )


class ChangePasswordIn(InputModel):
    current_password: AnyPassword
    new_password: Password


class PasswordResetIn(InputModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]


class PasswordResetConfirmIn(InputModel):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    new_password: Password


class AddressIn(InputModel):
    label: AddressLabel | None = None
    full_name: FullName
    line1: AddressLine
    line2: AddressExtraLine | None = None
    city: City
    region: Region | None = None
    postal_code: PostalCode
    country: CountryCode
    phone: Phone | None = None
    is_default: StrictBool = False


class AddressUpdate(InputModel):
    label: AddressLabel | None = None
    full_name: FullName | None = None
    line1: AddressLine | None = None
    line2: AddressExtraLine | None = None
    city: City | None = None
    region: Region | None = None
    postal_code: PostalCode | None = None
    country: CountryCode | None = None
    phone: Phone | None = None
    is_default: StrictBool | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> AddressUpdate:
        for name in ("full_name", "line1", "city", "postal_code", "country", "is_default"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class AddressOut(OutputModel):
    id: int
    label: str | None
    full_name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str
    phone: str | None
    is_default: bool
    created_at: UTCTimestamp


class AddressPath(InputModel):
    address_id: int


class UserSearchQuery(QueryModel):
    q: Annotated[str, StringConstraints(min_length=1, max_length=320)] | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = None
