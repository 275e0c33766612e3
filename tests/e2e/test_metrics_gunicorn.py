"""Metrics under gunicorn: every worker process writes its samples; any worker's scrape sums them all."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from tests.conftest import Mailbox
from tests.support.servers import LiveServer, serve

pytestmark = [pytest.mark.postgres_only]
REQUESTS = 40


def _health_count(server: LiveServer) -> float:
    with urllib.request.urlopen(server.base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "shopwright_http_request_duration_seconds_count"
                and sample.labels.get("route") == "/api/health"
            ):
                return sample.value
    return 0.0


def test_a_scrape_of_any_worker_counts_the_requests_of_all_workers(
    postgresql_url: str,
    committed_db: Engine,
    redis_url: str,
    smtp_server: tuple[str, int, Mailbox],
    tmp_path: Path,
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_stale.db").write_bytes(b"left by a previous run")  # emptied at start
    settings = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with serve(postgresql_url, redis_url, smtp_server, workers=3, settings=settings) as server:
        before = _health_count(server)
        for _ in range(REQUESTS):
            assert server.request("GET", "/api/health")[0] == 200

        # Each scrape may land on another worker: every one sees the sum of all three.
        counts = {_health_count(server) - before for _ in range(6)}

    assert counts == {REQUESTS}
