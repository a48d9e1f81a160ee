"""``make run`` for real, and commands typed in a second terminal while it runs.

The project is copied to a temporary folder (its own ``var/``: the SQLite file,
the local Redis's data and ``run.env``; the virtualenv is shared through a
symlink), and ``scripts/run.sh`` (what ``make run`` runs after installing) is
started there with the environment of a fresh terminal plus two free ports.
Then, as a user would:

- the site says ``Ready: <url>`` once it answers, and the periodic tasks' INFO lines stay out of the console;
- a browser opens the home page;
- ``.venv/bin/python manage.py publish_event public broadcast '{"message": ...}'`` runs in a second
  terminal with *no* extra environment, and the banner appears on the open page;
- ``celery -A config inspect ping`` from that terminal reaches the Celery worker ``make run`` started;
- Ctrl-C stops everything, the local Redis included.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from redis_patterns.servers import free_port
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(settings.BASE_DIR)
COPY_IGNORE = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", ".pytest_cache", ".ruff_cache",
                                     "test-results", "*.egg-info", "node_modules")


def fresh_terminal(**extra: str) -> dict[str, str]:
    """What a new terminal has: no Django, Redis or debug variables (the machine's guard against 6379 kept)."""
    # make run takes redis-server from PATH (REDIS_SERVER_BIN is the suite's and the labs' setting)
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "REDIS_FORBIDDEN_ADDRESSES")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **extra}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORE)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def test_commands_in_a_second_terminal_reach_a_running_make_run(project: Path, page, tmp_path: Path):
    web_port, redis_port = free_port(), free_port()
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        run = subprocess.Popen(["bash", "scripts/run.sh"], cwd=project, stdout=log, stderr=subprocess.STDOUT,
                               env=fresh_terminal(WEB_PORT=str(web_port), DEV_REDIS_PORT=str(redis_port)),
                               start_new_session=True)
    url = f"http://127.0.0.1:{web_port}/"

    def console() -> str:
        return log_path.read_text(errors="replace")

    try:
        wait_for(lambda: f"Ready: {url}" in console() or run.poll() is not None, timeout=180, interval=0.5)
        assert run.poll() is None, console()[-3000:]
        env_file = project / "var" / "run.env"
        # the app user's URL (its generated password), so a second terminal connects as the site does
        assert re.search(rf"^REDIS_URL=redis://app:[0-9a-f]+@127\.0\.0\.1:{redis_port}/0$", env_file.read_text(), re.M)
        assert env_file.stat().st_mode & 0o077 == 0  # may carry a password: the owner's only

        page.goto(url)
        expect(page.locator("#rt-notifications")).to_have_attribute("data-state", "live", timeout=20_000)

        second = fresh_terminal()  # nothing exported: not the ports, not DEBUG, not REDIS_URL
        cmd = [".venv/bin/python", "manage.py", "publish_event", "public", "broadcast",
               '{"message": "hi from a second terminal"}']
        done = subprocess.run(cmd, cwd=project, env=second, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        event_id = done.stdout.strip()
        expect(page.locator("#rt-broadcast")).to_have_text("hi from a second terminal", timeout=15_000)
        expect(page.locator("#rt-broadcast-bar")).to_have_attribute("data-event-id", event_id)

        ping = subprocess.run([".venv/bin/celery", "-A", "config", "inspect", "ping", "--timeout", "10"],
                              cwd=project, env=second, capture_output=True, text=True, timeout=90)
        assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr

        time.sleep(6)  # beat sends a task every 5 s: at the default level none of that is printed
        text = console()
        assert "Sending due task" not in text and " succeeded in " not in text, text[-3000:]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
        # Ctrl-C also stopped the local Redis it started (SHUTDOWN: its AOF complete).
        pid_file = project / "var" / "redis" / "redis.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            try:
                wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=15)
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
                raise
    assert run.returncode == 0, console()[-3000:]
