"""The basics every route relies on: health, docs, problem+json, slashes."""

from flask.testing import FlaskClient

from tests.factories import customer


def test_health_reports_database_ok(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["database"] == "ok"


def test_me_works_with_and_without_trailing_slash(client: FlaskClient) -> None:
    account = customer(client)
    for path in ("/api/auth/me", "/api/auth/me/"):
        response = client.get(path, headers=account.headers)
        assert response.status_code == 200
        assert response.json["email"] == account.email
