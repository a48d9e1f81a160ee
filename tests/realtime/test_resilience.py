"""Against the real ASGI server (uvicorn): Redis restarts, sockets come back, nothing is missed."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from realtime.services import publish_event

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager")]


def open_socket(base: str, last_event_id: str | None = None, origin: str | None = None):
    url = base.replace("http://", "ws://") + "/ws/notifications/"
    if last_event_id:
        url += f"?last_event_id={last_event_id}"
    return ws_connect(url, origin=origin or base, open_timeout=5)


def read(ws, timeout: float = 5.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def reconnect(base: str, last_event_id: str, deadline_s: float = 20.0):
    """What the browser does: retry with backoff until the socket says "ready"; returns (ws, replayed)."""
    delay, deadline = 0.05, time.monotonic() + deadline_s
    while True:
        try:
            ws = open_socket(base, last_event_id)
            replayed = []
            while True:
                message = read(ws)
                if message.get("type") == "ready":
                    return ws, replayed
                replayed.append(message)
        except (ConnectionClosed, OSError, InvalidStatus, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)  # client backoff between attempts (not a wait for a condition)
            delay = min(delay * 2, 1.0)


def test_a_foreign_origin_is_refused_by_the_real_server(live_server_url):
    with pytest.raises(InvalidStatus) as refused:
        open_socket(live_server_url, origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_redis_restart_closes_the_socket_cleanly_and_the_client_resumes_from_its_last_id(
        live_server_url, redis_server):
    ws = open_socket(live_server_url)
    assert read(ws)["type"] == "ready"
    first = publish_event("public", "broadcast", {"message": "before the restart", "level": "info"})
    assert read(ws)["id"] == first

    redis_server.kill()  # a crash: the channel layer's connection breaks under the consumer
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011  # a proper close frame
    redis_server.start()

    # Published while this client is away (the server has no persistence: the
    # stream starts again after the restart, with ids above the old ones).
    missed = [publish_event("public", "broadcast", {"message": f"during {i}", "level": "info"}) for i in range(3)]
    ws, replayed = reconnect(live_server_url, first)
    assert [e["id"] for e in replayed] == missed
    live = publish_event("public", "broadcast", {"message": "live again", "level": "info"})
    assert read(ws)["id"] == live
    ws.close()
