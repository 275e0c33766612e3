"""Health answers 503 problem+json when the database cannot be reached."""

from shopwright import create_app
from tests.conftest import make_settings


def test_health_is_503_when_the_database_is_down() -> None:
    # Given an app whose database does not answer (nothing listens on port 1)
    app = create_app(make_settings("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"))

    response = app.test_client().get("/api/health")

    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.json["database"] == "unavailable"
    assert response.json["code"] == "service_unavailable"
