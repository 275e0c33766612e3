"""The back-office page in a real browser (headless Chromium through Selenium) against a real gunicorn
server: log in, the dashboard and reports show what the API answers, orders change status, and an import
with a bad row shows the error next to that row. Screenshots go to test-artefacts/admin-page/ (ignored
by git).

Skipped when Chromium or its driver is missing (`apt-get install chromium chromium-driver`), unless
SHOPWRIGHT_TEST_REQUIRE_SERVICES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import Engine

from shopwright.accounts.seed import ensure_admin
from shopwright.db import make_sessionmaker
from tests.conftest import REQUIRE_SERVICES
from tests.support.servers import ROOT, LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTEFACTS = ROOT / "test-artefacts" / "admin-page"
PASSWORD = "Admin-pass-1"
ADMIN_EMAIL = "backoffice@example.com"


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "Chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1280,1100",
    ):
        options.add_argument(argument)
    # The driver is given: Selenium Manager never tries to download one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _shop(server: LiveServer, committed_db: Engine) -> dict[str, Any]:
    """An admin, two products, and a customer's two paid orders (one shipped) through the API."""
    with make_sessionmaker(committed_db)() as session:
        ensure_admin(session, ADMIN_EMAIL, PASSWORD)
    admin = server.login(ADMIN_EMAIL, PASSWORD)
    status, category = server.request("POST", "/api/categories", {"name": "Lamps"}, token=admin)
    assert status == 201
    products = []
    for sku, name, price, stock in (("LAMP-1", "Desk Lamp", 3_500, 20), ("BULB-1", "Bulb", 250, 3)):
        body = {"name": name, "category_id": category["id"], "sku": sku, "price_cents": price,
                "stock_quantity": stock, "cost_cents": price // 2}  # fmt: skip
        status, product = server.request("POST", "/api/products", body, token=admin)
        assert status == 201, product
        products.append(product)
    status, _ = server.request(
        "POST", "/api/auth/register", {"email": "eve@example.com", "password": PASSWORD}
    )
    assert status == 201
    buyer = server.login("eve@example.com", PASSWORD)
    orders = []
    for product, quantity in ((products[0], 2), (products[1], 1)):
        status, _ = server.request(
            "POST", "/api/cart/items", {"product_id": product["id"], "quantity": quantity}, token=buyer
        )
        assert status == 201
        status, order = server.request("POST", "/api/orders", {"delivery_address": "1 Main St"}, token=buyer)
        assert status == 201, order
        payment = {"order_id": order["id"], "payment_method": "tok_visa"}
        assert server.request("POST", "/api/payments/process", payment, token=buyer)[0] == 200
        orders.append(order)
    shipped = {"status": "shipped"}
    assert (
        server.request("PUT", f"/api/admin/orders/{orders[0]['id']}/status", shipped, token=admin)[0] == 200
    )
    return {"admin": admin, "orders": orders, "products": products}


def _log_in(browser: WebDriver, server: LiveServer) -> None:
    browser.get(server.base_url + "/admin")
    browser.find_element(By.ID, "login-email").send_keys(ADMIN_EMAIL)
    browser.find_element(By.ID, "login-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    _wait_loaded(browser, "dashboard")


def _wait_loaded(browser: WebDriver, view: str) -> None:
    WebDriverWait(browser, 20).until(
        lambda driver: driver.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == view
    )


def _cents(browser: WebDriver, element_id: str) -> int:
    return int(browser.find_element(By.ID, element_id).get_attribute("data-cents") or "-1")


def _column(browser: WebDriver, table_id: str, index: int) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in rows]


def test_dashboard_reports_and_orders_show_what_the_api_answers(
    live_server: LiveServer, committed_db: Engine, browser: WebDriver
) -> None:
    server = live_server
    shop = _shop(server, committed_db)
    status, dashboard = server.request("GET", "/api/admin/dashboard", token=shop["admin"])
    assert status == 200
    assert dashboard["revenue_cents"] == 7_250

    _log_in(browser, server)

    assert _cents(browser, "dash-revenue") == dashboard["revenue_cents"]
    assert browser.find_element(By.ID, "dash-revenue").text == "72.50"
    assert browser.find_element(By.ID, "dash-aov").text == "36.25"
    assert browser.find_element(By.ID, "dash-customers").text == str(dashboard["customers"]) == "1"
    assert _column(browser, "dash-top", 0) == [p["name"] for p in dashboard["top_products"]]
    assert _column(browser, "dash-low", 0) == ["BULB-1"]
    statuses = dict(zip(_column(browser, "dash-status", 0), _column(browser, "dash-status", 1), strict=True))
    assert statuses == {name: str(count) for name, count in dashboard["orders_by_status"].items()}
    charted = browser.execute_script(
        "return Chart.getChart(document.getElementById('revenue-chart')).data.datasets[0].data"
    )
    assert charted == [day["revenue_cents"] / 100 for day in dashboard["revenue_by_day"]]
    browser.save_screenshot(str(ARTEFACTS / "dashboard.png"))

    browser.find_element(By.CSS_SELECTOR, "nav button[data-view=reports]").click()
    _wait_loaded(browser, "reports")
    status, profit = server.request("GET", "/api/admin/reports/profit", token=shop["admin"])
    cells = browser.find_elements(By.CSS_SELECTOR, "#report-profit tbody td")
    assert [int(c.get_attribute("data-cents") or -1) for c in cells[:3]] == [
        profit["revenue_cents"],
        profit["cost_cents"],
        profit["profit_cents"],
    ]
    assert _column(browser, "report-product-sales", 0) == ["Desk Lamp", "Bulb"]
    assert _column(browser, "report-product-sales", 4) == ["96.55", "3.45"]
    browser.save_screenshot(str(ARTEFACTS / "reports.png"))

    browser.find_element(By.CSS_SELECTOR, "nav button[data-view=orders]").click()
    _wait_loaded(browser, "orders")
    paid = shop["orders"][1]["id"]
    Select(browser.find_element(By.CSS_SELECTOR, f"select[data-order='{paid}']")).select_by_value("shipped")
    browser.find_element(By.CSS_SELECTOR, f"select[data-order='{paid}'] + button").click()
    WebDriverWait(browser, 20).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "message"), f"#{paid} is now shipped")
    )
    assert server.request("GET", f"/api/admin/orders/{paid}", token=shop["admin"])[1]["status"] == "shipped"
    browser.save_screenshot(str(ARTEFACTS / "orders.png"))


def _import_exists(server: LiveServer, token: str) -> bool:
    request = urllib.request.Request(
        server.base_url + "/api/admin/products/import",
        method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as error:
        return error.code != 404
    return True


def test_an_import_with_a_bad_row_shows_the_error_next_to_that_row(
    live_server: LiveServer, committed_db: Engine, browser: WebDriver, tmp_path: Path
) -> None:
    server = live_server
    with make_sessionmaker(committed_db)() as session:
        ensure_admin(session, ADMIN_EMAIL, PASSWORD)
    if not _import_exists(server, server.login(ADMIN_EMAIL, PASSWORD)):
        pytest.skip("POST /api/admin/products/import is not on this branch yet (built in another branch)")
    upload = tmp_path / "products.csv"
    upload.write_text(
        "sku,name,price_cents,stock_quantity\nGOOD-1,Good lamp,1000,5\nBAD-1,Bad lamp,-5,1\n",
        encoding="utf-8",
    )
    _log_in(browser, server)

    browser.find_element(By.CSS_SELECTOR, "nav button[data-view=import]").click()
    browser.find_element(By.ID, "import-file").send_keys(str(upload))
    browser.find_element(By.ID, "import-submit").click()
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#import-errors tbody tr"))
    )
    rows = browser.find_elements(By.CSS_SELECTOR, "#import-errors tbody tr")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert [row[0] for row in cells] == ["3"]  # the header is row 1
    assert cells[0][1] == "BAD-1,Bad lamp,-5,1"
    assert cells[0][2].startswith("price_cents:")
    browser.save_screenshot(str(ARTEFACTS / "import-errors.png"))
    status, listing = server.request("GET", "/api/products")
    assert status == 200
    assert listing["items"] == []  # all or nothing: the good row was not written either
