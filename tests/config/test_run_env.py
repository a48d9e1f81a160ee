"""``var/run.env``: the settings ``make run`` chose, read by ``manage.py`` for what the environment does not set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from config.env import load_run_env
from realtime import keys


def test_only_variables_the_environment_does_not_set_are_taken(tmp_path, monkeypatch):
    env_file = tmp_path / "run.env"
    env_file.write_text("# a comment\nRUN_ENV_T_NEW=from-file\nRUN_ENV_T_SET=from-file\n"
                        "RUN_ENV_T_URL=redis://h:1/0?a=b=c\nnot a line\n=nameless\nBAD-NAME=x\n")
    monkeypatch.setenv("RUN_ENV_T_SET", "from-env")
    for name in ("RUN_ENV_T_NEW", "RUN_ENV_T_URL"):
        monkeypatch.delenv(name, raising=False)
    try:
        applied = load_run_env(env_file)
        assert applied == {"RUN_ENV_T_NEW": "from-file", "RUN_ENV_T_URL": "redis://h:1/0?a=b=c"}
        assert os.environ["RUN_ENV_T_SET"] == "from-env"  # the environment wins
        assert "BAD-NAME" not in os.environ
    finally:
        for name in ("RUN_ENV_T_NEW", "RUN_ENV_T_URL"):
            os.environ.pop(name, None)
    assert load_run_env(tmp_path / "missing.env") == {}


def _bare_env(**extra: str) -> dict[str, str]:
    """A new terminal: no Django, Redis or debug settings at all."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "REDIS_FORBIDDEN_ADDRESSES")}
    return {**keep, **extra}


def test_manage_py_in_a_second_terminal_uses_the_settings_make_run_wrote(tmp_path: Path, redis_server, raw_redis):
    # What scripts/run.sh writes, here aimed at the test's own server.
    (tmp_path / "run.env").write_text(f"DEBUG=1\nVAR_DIR={tmp_path}\nREDIS_URL={redis_server.url}\n"
                                      "REDIS_KEY_PREFIX=t\n")
    cmd = [sys.executable, "manage.py", "publish_event", "public", "broadcast", '{"message": "hi"}']
    # The project's default VAR_DIR is var/; a test cannot write there, so it names the folder
    # the way a checkout elsewhere would have it: that is the only variable given.
    done = subprocess.run(cmd, cwd=settings.BASE_DIR, env=_bare_env(VAR_DIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [i for i, _ in raw_redis.xrange(keys.events_stream("public"))] == [done.stdout.strip()]

    # Without the file: the clear error the issue reported (no SECRET_KEY, no DEBUG).
    (tmp_path / "run.env").unlink()
    failed = subprocess.run(cmd, cwd=settings.BASE_DIR, env=_bare_env(VAR_DIR=str(tmp_path)),
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "SECRET_KEY is not set" in failed.stderr
