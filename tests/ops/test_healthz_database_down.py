"""/healthz with the database down, on a real server process.

The database really is unreachable here: the server is started with a
``DATABASE_URL`` pointing at a PostgreSQL port where nothing listens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

from django.conf import settings

from redis_patterns.servers import free_port
from tests.conftest import wait_for


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_healthz_is_503_naming_the_database(redis_server, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://nobody@127.0.0.1:{free_port()}/nothing",
        "ALLOWED_HOSTS": "127.0.0.1",
        "VAR_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--lifespan", "off",
         "--log-level", "warning"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        def up():
            try:
                return _get(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                return None

        status, body = wait_for(up, timeout=20, interval=0.1)
        assert status == 503
        assert body["redis"] == "ok"
        assert body["database"].startswith("down")
    finally:
        server.terminate()
        server.wait(10)
