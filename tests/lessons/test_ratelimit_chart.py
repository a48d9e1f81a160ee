"""The rate-limiting demo page: the timeline replay and what it shows."""

from __future__ import annotations

import pytest

from lessons import services

pytestmark = pytest.mark.django_db


def test_window_edge_pattern_shows_the_fixed_window_admitting_twice_the_limit(client):
    client.get("/patterns/rate-limiting/")  # first visit loads the scripts
    response = client.get("/patterns/rate-limiting/?pattern=window-edge")
    assert response.status_code == 200
    rows = {r["name"]: r for r in response.context["rows"]}
    assert rows["fixed_window"]["peak"] == 2 * services.RL_LIMIT
    assert rows["sliding_log"]["peak"] == rows["sliding_window"]["peak"] == services.RL_LIMIT
    # bucket and GCRA: the burst, plus what refilled meanwhile; identical to each other
    assert rows["token_bucket"]["peak"] == rows["gcra"]["peak"] == services.RL_LIMIT + 1
    assert [m.allowed for m in rows["token_bucket"]["marks"]] == [m.allowed for m in rows["gcra"]["marks"]]
    trace = response.context["trace"]
    assert trace.round_trip_count == 1 and trace.command_count == 5 * response.context["requests"]
    html = response.content.decode()
    assert "<svg" in html and "1 pipelined round trip;" in html


@pytest.mark.parametrize("pattern", ["steady", "bursty", "nonsense"])
def test_every_pattern_renders(client, pattern):
    response = client.get(f"/patterns/rate-limiting/?pattern={pattern}")
    assert response.status_code == 200 and len(response.context["rows"]) == 5


def test_max_in_any_period():
    assert services.max_in_any_period([0, 1, 2, 10, 10.5], 10) == 4  # 1, 2, 10, 10.5 within 9.5 s
    assert services.max_in_any_period([9.0, 9.5, 10.0, 10.5], 1.0) == 2
