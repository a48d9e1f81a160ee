"""``GET /metrics``: Prometheus text format (parsed by prometheus-client's own parser), access rules,
app and Redis series, and the multiprocess merge across real uvicorn and stream-worker processes."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: ``{(name, sorted labels): value}`` (raises on a malformed body)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def total(scrape: dict, name: str, **labels: str) -> float:
    """Sum of a series over the labels not given."""
    return sum(v for (n, ls), v in scrape.items() if n == name and all((k, labels[k]) in ls for k in labels))


@pytest.fixture
def product():
    from shop.models import Category, Product

    category = Category.objects.create(name="Tea", slug="tea")
    return Product.objects.create(category=category, name="Oolong", slug="oolong", description="",
                                  price=Decimal("4.20"), stock=10, image_hue=40)


def scrape(client) -> dict:
    res = client.get("/metrics")
    assert res.status_code == 200
    assert res["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(res.content.decode())


def test_metrics_has_app_and_redis_series_and_counts_cache_and_limiter_traffic(client, product):
    before = scrape(client)
    assert client.get(f"/api/products/{product.pk}")["X-Cache"] == "miss"
    assert client.get(f"/api/products/{product.pk}")["X-Cache"] == "hit"
    assert client.get(f"/api/products/{product.pk}")["X-Cache"] == "hit"
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("app_cache_reads_total", cache="product", strategy="redis", outcome="miss") == 1
    assert delta("app_cache_reads_total", cache="product", strategy="redis", outcome="hit") == 2
    assert delta("app_ratelimit_decisions_total", rule="api", outcome="allowed") == 3
    assert value(after, "redis_up") == 1
    assert value(after, "redis_memory_used_bytes") > 0
    assert value(after, "redis_keyspace_hits_total") > 0 and value(after, "redis_connected_clients") >= 1
    # from the command tracer: the three API requests made GET and pipelined round trips, with their time
    assert total(after, "app_redis_roundtrips_total") - total(before, "app_redis_roundtrips_total") >= 3
    assert total(after, "app_redis_roundtrip_seconds_total") > total(before, "app_redis_roundtrip_seconds_total")
    assert value(after, "app_redis_time_per_request_seconds_count") - \
        value(before, "app_redis_time_per_request_seconds_count") >= 3
    assert ("redis_instance_info", ()) not in after and total(after, "redis_instance_info") == 1


def test_limiter_denials_are_counted_per_rule(client, product, settings):
    rules = dict(settings.RATELIMIT_RULES)
    rules["api"] = {**rules["api"], "limit": 2}
    settings.RATELIMIT_RULES = rules
    before = scrape(client)
    codes = [client.get(f"/api/products/{product.pk}").status_code for _ in range(4)]
    after = scrape(client)
    assert codes == [200, 200, 429, 429]
    for outcome, n in (("allowed", 2), ("denied", 2)):
        assert value(after, "app_ratelimit_decisions_total", rule="api", outcome=outcome) - \
            value(before, "app_ratelimit_decisions_total", rule="api", outcome=outcome) == n


def test_redis_down_scrape_still_answers_with_redis_up_0(client, redis_server):
    redis_server.stop()
    after = scrape(client)
    assert value(after, "redis_up") == 0


def test_metrics_refuses_remote_clients_and_proxied_requests_and_takes_the_token(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    settings.METRICS_TOKEN = "s3cret-token-for-prometheus"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    res = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token-for-prometheus")
    assert res.status_code == 200 and b"redis_up" in res.content


def test_websocket_connections_gauge_counts_open_sockets(live_server_url):
    import asyncio

    import websockets

    ws_url = live_server_url.replace("http://", "ws://") + "/ws/notifications/"

    def gauge() -> float:
        with urllib.request.urlopen(live_server_url + "/metrics", timeout=10) as res:  # noqa: S310
            return value(samples(res.read().decode()), "app_websocket_connections")

    base = gauge()

    async def hold() -> tuple[float, float]:
        async with websockets.connect(ws_url, origin=live_server_url) as a, \
                websockets.connect(ws_url, origin=live_server_url) as b:
            for ws in (a, b):
                assert json.loads(await ws.recv())["type"] == "ready"
            during = await asyncio.to_thread(gauge)
        return during

    during = asyncio.run(hold())
    assert during == base + 2
    wait_for(lambda: gauge() == base, timeout=10)


def test_the_grafana_dashboard_only_queries_series_that_metrics_exposes(client, raw_redis):
    """Every metric name in docs/grafana-dashboard.json is a family a scrape returns (once each kind was used)."""
    import re
    from pathlib import Path

    from django.conf import settings

    from ops import metrics
    from redis_patterns import tracing
    from workers import keys as worker_keys

    stream = worker_keys.orders_stream_for(None)
    raw_redis.xadd(stream, {"order_id": "1"})
    raw_redis.xgroup_create(stream, "fulfilment", id="0")
    raw_redis.hset(worker_keys.orders_stats("fulfilment"), mapping={"acked": 1, "dead_lettered": 0})
    metrics.stream_handler("orders", "fulfilment")(lambda msg: None)(None)
    metrics._task_finished(task_id="x", task=type("T", (), {"name": "demo"})(), state="SUCCESS")
    metrics.cache_read("product", "redis", "hit")
    from config.redis import get_redis

    with tracing.tracing("probe"):
        get_redis().ping()
    client.get("/api/products/1")  # a rate-limit decision (the "api" rule)
    names = {f.name for f in text_string_to_metric_families(client.get("/metrics").content.decode())}
    names |= {n + "_total" for n in names} | {n + suffix for n in names for suffix in ("_bucket", "_count", "_sum")}
    dashboard = json.loads((Path(settings.BASE_DIR) / "docs" / "grafana-dashboard.json").read_text())
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"\b(?:app|redis)_[a-z_]+",
                                                                                          t["expr"])}
    assert used and used <= names, sorted(used - names)


def test_a_forked_child_counts_in_its_own_file_though_the_process_id_is_kept():
    """The kept process id (no ``getpid`` system call per increment) is renewed in a forked child, so the
    child opens its own file, as Celery's prefork pool and the stream workers need."""
    import os

    from prometheus_client.multiprocess import MultiProcessCollector

    from ops import metrics

    assert metrics.multiprocess()
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    child = metrics.CELERY_TASKS.labels("fork-test", "SUCCESS")
    child.inc()  # the parent's file is open before the fork
    pid = os.fork()
    if pid == 0:  # the child: count and leave without running any of pytest's teardown
        try:
            child.inc(5)
            os._exit(0 if metrics._process_id() == os.getpid() else 3)
        finally:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert metrics._process_id() == os.getpid()
    assert os.path.exists(os.path.join(directory, f"counter_{pid}.db")), "the child wrote into its parent's file"

    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    merged = {(s.name, s.labels.get("task"), s.labels.get("state")): s.value
              for family in registry.collect() for s in family.samples}
    assert merged[("app_celery_tasks_total", "fork-test", "SUCCESS")] >= 6


def test_a_process_file_not_yet_sized_does_not_fail_the_scrape(client):
    """prometheus-client creates a process's file, then sizes it: a scrape in between met a 0-byte file and
    answered 500 (seen in CI, a stream worker starting during a scrape); a process killed in that window left
    the empty file for good (prometheus/client_python#1199). The file holds nothing yet: it is left out."""
    import os

    from ops import metrics

    metrics.CELERY_TASKS.labels("empty-file-test", "SUCCESS").inc()
    empty = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "counter_4194303999.db")  # no such process
    open(empty, "wb").close()
    try:
        response = client.get("/metrics")
        assert response.status_code == 200
        assert 'app_celery_tasks_total{state="SUCCESS",task="empty-file-test"} 1.0' in response.content.decode()
    finally:
        os.remove(empty)
