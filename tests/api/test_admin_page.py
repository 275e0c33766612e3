"""GET /admin: the back-office page is served with its assets from this app only, under a strict CSP."""

from __future__ import annotations

import re

from flask.testing import FlaskClient


def _csp(response: object) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_the_page_and_every_asset_it_names_are_served_locally(client: FlaskClient) -> None:
    for path in ("/admin", "/admin/"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"#]+)"', html)

    assert "/admin/static/vendor/chart.umd.min.js" in assets
    assert all(asset.startswith("/admin/static/") for asset in assets), assets  # nothing from a CDN
    for asset in assets:
        response = client.get(asset)
        response.close()
        assert response.status_code == 200, asset
    assert "Chart.js" in client.get("/admin/static/vendor/chart.js-LICENSE.md").get_data(as_text=True)


def test_the_page_allows_only_its_own_scripts_and_cannot_be_framed(client: FlaskClient) -> None:
    page = client.get("/admin")
    csp = _csp(page)

    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in page.get_data(as_text=True)  # no inline script to allow
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_admin_files_are_not_found(client: FlaskClient) -> None:
    assert client.get("/admin/static/nope.js").status_code == 404
    assert client.get("/admin/static/../routes.py").status_code == 404
