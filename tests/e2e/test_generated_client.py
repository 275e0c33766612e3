"""A client generated from the served OpenAPI document buys something through a real server.

openapi-python-client (pinned in the dev extra) writes a Python package from GET /api/openapi.json into
a temporary directory; the test imports it and drives a whole purchase with it: register, log in, list,
search and read products, reviews, recommendations and the category tree, fill the cart, check out with
a structured address, pay, read the history, and an admin creating a product and shipping the order.
Every answer must parse into the generated model of its operation and status, with no field lost:
nothing the server sent left out (`additional_properties`) or Unset.
"""

from __future__ import annotations

import datetime
import enum
import importlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from sqlalchemy import Engine

from shopwright.accounts.seed import ensure_admin
from shopwright.db import make_sessionmaker
from tests.support.servers import LiveServer

PACKAGE = "shopwright_generated_client"
PASSWORD = "Client-pass-1"
# No post hooks: the generator would otherwise run ruff on the code (not needed to import it).
CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"


@pytest.fixture
def sdk(live_server: LiveServer, tmp_path: Path) -> Iterator[ModuleType]:
    """Generate the client from the served document and import it (as `PACKAGE`)."""
    with urllib.request.urlopen(f"{live_server.base_url}/api/openapi.json", timeout=30) as response:
        (tmp_path / "openapi.json").write_bytes(response.read())
    (tmp_path / "config.yaml").write_text(CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--config",
            str(tmp_path / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
            "--fail-on-warning",  # a schema construct the generator cannot type is a failure here
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


class Api:
    """The generated package's operations and models, looked up by the names the document gives them."""

    def __init__(self, sdk: ModuleType, base_url: str) -> None:
        self.package = sdk.__name__
        self.models = importlib.import_module(f"{self.package}.models")
        self.types = importlib.import_module(f"{self.package}.types")
        self.base_url = base_url
        self.anonymous = sdk.Client(base_url=base_url, raise_on_unexpected_status=True)
        self._clients = [self.anonymous]

    def client(self, token: str) -> Any:
        """Return a client that sends this bearer token."""
        client = importlib.import_module(self.package).AuthenticatedClient(
            base_url=self.base_url, token=token, raise_on_unexpected_status=True
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.get_httpx_client().close()

    def call(self, tag: str, operation: str, expect: tuple[int, str | None], **kwargs: Any) -> Any:
        """Call `operation` (its module name); assert the status and that the answer parsed fully."""
        module = importlib.import_module(f"{self.package}.api.{tag}.{operation}")
        kwargs.setdefault("client", self.anonymous)
        response = module.sync_detailed(**kwargs)
        status, model = expect
        assert response.status_code == status, (operation, response.content)
        if model is None:
            assert response.parsed is None, operation
            return None
        assert type(response.parsed) is getattr(self.models, model), (operation, type(response.parsed))
        assert_fully_parsed(response.parsed, json.loads(response.content), self, operation)
        return response.parsed


def assert_fully_parsed(value: Any, sent: Any, api: Api, where: str) -> None:
    """Assert a parsed value holds exactly what was sent, in generated model classes all the way down."""
    if attrs.has(type(value)):
        assert type(value).__module__.startswith(f"{api.package}.models."), where
        assert isinstance(sent, dict), where
        extra = getattr(value, "additional_properties", {})
        assert extra == {}, f"{where}: fields the document does not describe: {sorted(extra)}"
        # to_dict() leaves Unset fields out: the same keys means nothing sent was lost, nothing made up
        assert set(value.to_dict()) == set(sent), where
        for field in attrs.fields(type(value)):
            key = field.name if field.name in sent else field.name.rstrip("_")  # `type` becomes `type_`
            if field.name != "additional_properties" and key in sent:
                assert_fully_parsed(getattr(value, field.name), sent[key], api, f"{where}.{key}")
    elif isinstance(value, list):
        assert isinstance(sent, list), where
        assert len(value) == len(sent), where
        for n, (item, raw) in enumerate(zip(value, sent, strict=True)):
            assert_fully_parsed(item, raw, api, f"{where}[{n}]")
    elif isinstance(value, datetime.datetime):
        assert value.tzinfo is not None, where
        assert value == datetime.datetime.fromisoformat(sent), where
    elif isinstance(value, enum.Enum):
        assert value.value == sent, where
    else:
        assert value == sent, (where, value, sent)
        assert type(value) is type(sent), (where, value, sent)


@pytest.fixture
def api(sdk: ModuleType, live_server: LiveServer) -> Iterator[Api]:
    api = Api(sdk, live_server.base_url)
    yield api
    api.close()


def test_a_generated_client_buys_pays_and_ships(api: Api, committed_db: Engine) -> None:
    m = api.models
    with make_sessionmaker(committed_db)() as session:
        ensure_admin(session, "ops@example.com", PASSWORD)
    login = m.LoginIn(email="ops@example.com", password=PASSWORD)
    boss = api.client(api.call("accounts", "login", (200, "TokenOut"), body=login).access_token)

    # An admin builds a small catalog: a category, two lamps in it, a gift card in none
    lamps = api.call(
        "catalog", "create_category", (201, "CategoryOut"), client=boss, body=m.CategoryCreate("Lamps")
    )
    shorthand = {"category_id": lamps.id, "stock_quantity": 5}
    lamp = api.call(
        "catalog",
        "create_product",
        (201, "ProductOut"),
        client=boss,
        body=m.ProductCreate(name="Desk Lamp", sku="LAMP-1", price_cents=3_500, **shorthand),
    )
    api.call(
        "catalog",
        "create_product",
        (201, "ProductOut"),
        client=boss,
        body=m.ProductCreate(name="Floor Lamp", sku="LAMP-2", price_cents=9_900, **shorthand),
    )
    card = api.call(
        "catalog",
        "create_product",
        (201, "ProductOut"),
        client=boss,
        body=m.ProductCreate(name="Gift card", sku="GIFT-1", price_cents=2_500, stock_quantity=9),
    )
    assert card.category is None

    # A customer registers and logs in
    user = api.call(
        "accounts",
        "register",
        (201, "UserOut"),
        body=m.RegisterIn(email="dana@example.com", password=PASSWORD, full_name="Dana"),
    )
    assert (user.email, user.role) == ("dana@example.com", "customer")
    login = m.LoginIn(email="dana@example.com", password=PASSWORD)
    dana = api.client(api.call("accounts", "login", (200, "TokenOut"), body=login).access_token)
    api.call("accounts", "get_profile", (200, "UserOut"), client=dana)

    # and browses: lists (cursor and numbered pages), search, a product, the tree, reviews, suggestions
    page = api.call("catalog", "list_products", (200, "PageProductOut"), limit=2)
    assert (len(page.items), page.next_cursor is not None) == (2, True)
    numbered = api.call("catalog", "list_products", (200, "NumberedPageProductOut"), page=1, per_page=2)
    assert numbered.total == 3
    found = api.call("catalog", "list_products", (200, "PageProductOut"), q="desk lamp")
    assert [item.id for item in found.items] == [lamp.id]
    in_lamps = api.call("catalog", "list_category_products", (200, "PageProductOut"), category_id=lamps.id)
    assert len(in_lamps.items) == 2
    detail = api.call("catalog", "get_product", (200, "ProductOut"), product_id=lamp.id)
    assert (detail.category.name, detail.variants[0].available) == ("Lamps", 5)
    tree = api.call("catalog", "get_category_tree", (200, "ItemListCategoryNode"))
    assert [node.name for node in tree.items] == ["Lamps"]
    review = m.ReviewCreate(rating=5, title="Bright")
    api.call("catalog", "create_review", (201, "ReviewOut"), client=dana, product_id=lamp.id, body=review)
    reviews = api.call("catalog", "list_product_reviews", (200, "PageReviewOut"), product_id=lamp.id)
    assert [r.title for r in reviews.items] == ["Bright"]
    suggested = api.call("catalog", "list_recommendations", (200, "ItemListProductOut"), product_id=lamp.id)
    assert [item.name for item in suggested.items] == ["Floor Lamp"]

    # fills the cart, checks out to a structured address, pays
    api.call(
        "cart",
        "add_cart_item",
        (201, "CartOut"),
        client=dana,
        body=m.CartItemIn(quantity=2, product_id=lamp.id),
    )
    cart = api.call("cart", "get_cart", (200, "CartOut"), client=dana)
    assert cart.subtotal_cents == 7_000
    address = m.ShippingAddressIn(line1="5 Elm Road", city="Leeds", postal_code="LS1 4AP", country="GB")
    order = api.call(
        "orders",
        "place_order",
        (201, "OrderOut"),
        client=dana,
        body=m.OrderCreate(delivery_address=address),
        idempotency_key="generated-client-order-1",
    )
    assert (order.status, order.total_cents) == ("pending", 7_500)
    pay = m.PaymentProcessIn(order_id=order.id, payment_method="tok_visa")
    payment = api.call("payments", "process_payment", (200, "PaymentOut"), client=dana, body=pay)
    assert (payment.status, payment.amount_cents) == ("succeeded", 7_500)
    api.call("payments", "get_payment", (200, "PaymentOut"), client=dana, payment_id=payment.id)

    # the admin ships it, and the customer's history shows it
    shipped = m.OrderStatusIn(status=m.OrderStatusInStatus.SHIPPED)
    api.call(
        "admin", "admin_update_order_status", (200, "OrderOut"), client=boss, order_id=order.id, body=shipped
    )
    api.call("admin", "admin_list_orders", (200, "PageOrderOut"), client=boss)
    history = api.call("orders", "list_orders", (200, "PageOrderOut"), client=dana)
    assert [(o.id, o.status) for o in history.items] == [(order.id, "shipped")]
    again = api.call("orders", "get_order", (200, "OrderOut"), client=dana, order_id=order.id)
    assert [p.status for p in again.payments] == ["succeeded"]


def test_errors_and_conditional_answers_parse_too(api: Api) -> None:

    missing = api.call("catalog", "get_product", (404, "Problem"), product_id=999_999)
    assert missing.code == "product_not_found"
    invalid = api.call("catalog", "list_products", (422, "Problem"), q="x")
    assert [error.field for error in invalid.errors] == ["q"]
    # the list's ETag comes back in a header; sent back unchanged, the answer is 304 with no body
    listing = importlib.import_module(f"{api.package}.api.catalog.list_products")
    etag = listing.sync_detailed(client=api.anonymous).headers["etag"]
    api.call("catalog", "list_products", (304, None), if_none_match=etag)
