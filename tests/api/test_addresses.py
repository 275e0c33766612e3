"""The address book: /api/auth/me/addresses and /api/auth/me/addresses/<id>."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from shopwright.accounts.addresses import MAX_ADDRESSES
from tests.factories import Account, address_payload, assert_problem, customer, error_fields

URL = "/api/auth/me/addresses"
ADDRESS_KEYS = {
    "id",
    "label",
    "full_name",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
    "is_default",
    "created_at",
}


def _add(client: FlaskClient, account: Account, **overrides: Any) -> dict[str, Any]:
    response = client.post(URL, json=address_payload(**overrides), headers=account.headers)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def _book(client: FlaskClient, account: Account) -> list[dict[str, Any]]:
    response = client.get(URL, headers=account.headers)
    assert response.status_code == 200
    assert set(response.json) == {"items"}
    items: list[dict[str, Any]] = response.json["items"]
    return items


def _defaults(client: FlaskClient, account: Account) -> dict[int, bool]:
    return {a["id"]: a["is_default"] for a in _book(client, account)}


def test_address_crud(client: FlaskClient) -> None:
    account = customer(client)
    assert _book(client, account) == []

    created = _add(client, account, line2="Hinterhaus", region="Berlin", phone="+49 30 123456")

    assert set(created) == ADDRESS_KEYS
    assert isinstance(created["id"], int)
    assert created["country"] == "DE"
    assert created["created_at"].endswith("Z")
    assert _book(client, account) == [created]

    response = client.patch(
        f"{URL}/{created['id']}", json={"city": "Hamburg", "line2": None}, headers=account.headers
    )

    assert response.status_code == 200
    assert response.json == {**created, "city": "Hamburg", "line2": None}
    assert _book(client, account) == [response.json]

    deleted = client.delete(f"{URL}/{created['id']}", headers=account.headers)

    assert deleted.status_code == 204
    assert deleted.get_data() == b""
    assert _book(client, account) == []
    assert_problem(client.delete(f"{URL}/{created['id']}", headers=account.headers), 404, "address_not_found")


def test_country_code_is_upper_cased(client: FlaskClient) -> None:
    account = customer(client)

    created = _add(client, account, country="de")

    assert created["country"] == "DE"


@pytest.mark.parametrize("country", ["ZZ", "DEU", "", "D", 49, None])
def test_an_invalid_country_is_refused(client: FlaskClient, country: object) -> None:
    account = customer(client)

    response = client.post(URL, json=address_payload(country=country), headers=account.headers)

    assert error_fields(assert_problem(response, 422, "validation_error")) == {"country"}
    assert _book(client, account) == []


def test_an_invalid_country_is_refused_on_update(client: FlaskClient) -> None:
    account = customer(client)
    created = _add(client, account)

    response = client.patch(f"{URL}/{created['id']}", json={"country": "ZZ"}, headers=account.headers)

    assert error_fields(assert_problem(response, 422, "validation_error")) == {"country"}
    assert _book(client, account) == [created]


def test_the_first_address_becomes_the_default(client: FlaskClient) -> None:
    account = customer(client)

    first = _add(client, account, is_default=False)
    second = _add(client, account)

    assert first["is_default"] is True
    assert second["is_default"] is False
    assert _defaults(client, account) == {first["id"]: True, second["id"]: False}


def test_a_new_default_undefaults_the_old_one(client: FlaskClient) -> None:
    account = customer(client)
    first = _add(client, account)

    second = _add(client, account, is_default=True)

    assert second["is_default"] is True
    assert _defaults(client, account) == {first["id"]: False, second["id"]: True}
    assert [a["id"] for a in _book(client, account)] == [second["id"], first["id"]]  # default first

    response = client.patch(f"{URL}/{first['id']}", json={"is_default": True}, headers=account.headers)

    assert response.status_code == 200
    assert response.json["is_default"] is True
    assert _defaults(client, account) == {first["id"]: True, second["id"]: False}


def test_deleting_the_default_promotes_the_oldest_remaining(client: FlaskClient) -> None:
    account = customer(client)
    oldest = _add(client, account, label="oldest")
    middle = _add(client, account, label="middle")
    newest = _add(client, account, label="newest", is_default=True)

    assert client.delete(f"{URL}/{newest['id']}", headers=account.headers).status_code == 204

    assert _defaults(client, account) == {oldest["id"]: True, middle["id"]: False}


def test_deleting_a_non_default_keeps_the_default(client: FlaskClient) -> None:
    account = customer(client)
    default = _add(client, account)
    other = _add(client, account)

    assert client.delete(f"{URL}/{other['id']}", headers=account.headers).status_code == 204

    assert _defaults(client, account) == {default["id"]: True}


def test_another_customers_address_is_not_found(client: FlaskClient) -> None:
    owner = customer(client)
    stranger = customer(client)
    address = _add(client, owner)
    _add(client, stranger)

    patched = client.patch(f"{URL}/{address['id']}", json={"city": "Stolen"}, headers=stranger.headers)
    deleted = client.delete(f"{URL}/{address['id']}", headers=stranger.headers)
    missing = client.delete(f"{URL}/{address['id'] + 1000}", headers=stranger.headers)

    # Exactly what a missing address answers: nothing tells that the id exists.
    expected = {**assert_problem(missing, 404, "address_not_found"), "detail": f"No address {address['id']}"}
    assert assert_problem(patched, 404, "address_not_found") == expected
    assert assert_problem(deleted, 404, "address_not_found") == expected
    assert _book(client, owner) == [address]
    assert address["id"] not in {a["id"] for a in _book(client, stranger)}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", URL), ("post", URL), ("patch", f"{URL}/1"), ("delete", f"{URL}/1")],
)
def test_anonymous_is_401(client: FlaskClient, method: str, path: str) -> None:
    owner = customer(client)
    address = _add(client, owner)

    response = getattr(client, method)(path.replace("/1", f"/{address['id']}"), json=address_payload())

    assert_problem(response, 401, "unauthorized")
    assert _book(client, owner) == [address]


@pytest.mark.parametrize("field", ["full_name", "line1", "city", "postal_code", "country", "is_default"])
def test_patch_cannot_null_a_required_field(client: FlaskClient, field: str) -> None:
    account = customer(client)
    created = _add(client, account)

    response = client.patch(f"{URL}/{created['id']}", json={field: None}, headers=account.headers)

    body = assert_problem(response, 422, "validation_error")
    assert field in body["detail"]
    assert _book(client, account) == [created]


def test_unknown_fields_are_refused(client: FlaskClient) -> None:
    account = customer(client)
    created = _add(client, account)

    on_add = client.post(URL, json=address_payload(user_id=1), headers=account.headers)
    on_patch = client.patch(
        f"{URL}/{created['id']}", json={"city": "X", "user_id": 1}, headers=account.headers
    )

    assert error_fields(assert_problem(on_add, 422, "validation_error")) == {"user_id"}
    assert error_fields(assert_problem(on_patch, 422, "validation_error")) == {"user_id"}
    assert _book(client, account) == [created]


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_is_default_must_be_a_real_boolean(client: FlaskClient, value: object) -> None:
    account = customer(client)
    created = _add(client, account)

    on_add = client.post(URL, json=address_payload(is_default=value), headers=account.headers)
    on_patch = client.patch(f"{URL}/{created['id']}", json={"is_default": value}, headers=account.headers)

    assert error_fields(assert_problem(on_add, 422, "validation_error")) == {"is_default"}
    assert_problem(on_patch, 422, "validation_error")
    assert _book(client, account) == [created]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", ""),
        ("line1", "x" * 201),
        ("postal_code", 10115),
        ("label", "l" * 51),
        ("city", ["Berlin"]),
    ],
)
def test_invalid_values_are_refused(client: FlaskClient, field: str, value: object) -> None:
    account = customer(client)

    response = client.post(URL, json=address_payload(**{field: value}), headers=account.headers)

    assert error_fields(assert_problem(response, 422, "validation_error")) == {field}
    assert _book(client, account) == []


@pytest.mark.parametrize("address_id", ["0", "99999999999999999999"])
def test_out_of_range_ids_are_404_not_500(client: FlaskClient, address_id: str) -> None:
    account = customer(client)
    created = _add(client, account)

    patched = client.patch(f"{URL}/{address_id}", json={"city": "X"}, headers=account.headers)
    deleted = client.delete(f"{URL}/{address_id}", headers=account.headers)

    assert_problem(patched, 404)
    assert_problem(deleted, 404)
    assert _book(client, account) == [created]


def test_the_address_book_is_capped(client: FlaskClient) -> None:
    account = customer(client)
    for number in range(MAX_ADDRESSES):
        _add(client, account, line1=f"Street {number}")

    response = client.post(URL, json=address_payload(line1="One too many"), headers=account.headers)

    assert_problem(response, 409, "address_book_full")
    book = _book(client, account)
    assert len(book) == MAX_ADDRESSES
    assert "One too many" not in {a["line1"] for a in book}
