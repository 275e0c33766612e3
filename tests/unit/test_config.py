"""Settings: environment parsing and refusal of insecure defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopwright.config import DEV_SECRET_KEY, Settings


def test_development_defaults_work_out_of_the_box() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.DATABASE_URL == "sqlite:///instance/shopwright.db"
    assert settings.JWT_ACCESS_TTL_MINUTES == 15
    assert settings.JWT_REFRESH_TTL_DAYS == 30
    assert settings.RATE_LIMIT_AUTH == "10/minute"


def test_hardening_limits_have_their_documented_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.MAX_REQUEST_BYTES == 1024 * 1024
    assert settings.IMPORT_MAX_BYTES == 50 * 1024 * 1024


@pytest.mark.parametrize("env", ["production", "test"])
def test_the_default_secret_is_refused_outside_development(env: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        Settings(_env_file=None, APP_ENV=env)  # type: ignore[call-arg]


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(_env_file=None, SECRET_KEY="too-short")  # type: ignore[call-arg]


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/shop")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("PASSWORD_RESET_URL", "https://shop.example/reset?token={token}")

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.DATABASE_URL == "postgresql+psycopg://u:p@db:5432/shop"
    assert settings.CORS_ORIGINS == ["https://a.example", "https://b.example"]
    assert settings.SECRET_KEY != DEV_SECRET_KEY


def test_production_refuses_the_development_reset_url() -> None:
    # The emailed link would point at 127.0.0.1: every reset mail of a real shop would be useless.
    with pytest.raises(ValidationError, match="PASSWORD_RESET_URL must be set"):
        Settings(_env_file=None, APP_ENV="production", SECRET_KEY="x" * 40)  # type: ignore[call-arg]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        APP_ENV="production",
        SECRET_KEY="x" * 40,
        PASSWORD_RESET_URL="https://shop.example/reset?token={token}",
    )
    assert settings.PASSWORD_RESET_URL == "https://shop.example/reset?token={token}"
    # Development and the test suite keep the local default.
    assert Settings(_env_file=None, APP_ENV="test", SECRET_KEY="x" * 40).PASSWORD_RESET_URL  # type: ignore[call-arg]


def test_a_refused_setting_does_not_echo_its_value() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, SECRET_KEY="hunter2-short")  # type: ignore[call-arg]
    assert "hunter2-short" not in str(error.value)


@pytest.mark.parametrize(
    "values",
    [
        {"SHIPPING_RATES_CENTS": {"*": 10**8 + 1}},
        {"SHIPPING_RATES_CENTS": {"DE": -1}},
        {"TAX_RATES_PERCENT": {"*": 101}},
        {"TAX_RATES_PERCENT": {"FR": -5}},
    ],
)
def test_shipping_and_tax_rates_are_bounded(values: dict[str, object]) -> None:
    # Unbounded, a typo in a rate could price an order past what the money columns hold.
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **values)  # type: ignore[arg-type]
