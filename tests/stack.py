"""Skip a module test, with the reason, when the test server has no Redis Stack modules.

``requires_modules(client, "bf")`` is a function, not a marker, so that the
module path and its core fallback can share one parametrized contract
suite.  When the suite gains a ``requires_modules`` marker and a Redis Stack
server in the matrix (issue #16), switch by replacing the call in each
suite's ``module`` fixture parameter with the marker on that parameter
(``pytest.param("module", marks=pytest.mark.requires_modules("bf"))``);
the reason text below says how to get such a server meanwhile.
"""

from __future__ import annotations

from typing import Any

import pytest

from redis_patterns import modules


def requires_modules(client: Any, *names: str) -> None:
    found = modules.detect(client)
    missing = [n for n in names if not found.has(n)]
    if missing:
        have = ", ".join(sorted(found.versions)) or "none"
        pytest.skip(f"needs the Redis Stack module(s) {', '.join(missing)} (this server has: {have}); "
                    "run the suite on Redis Stack: REDIS_SERVER_BIN=<redis-server that loads the modules> "
                    "(see issue #16, make test-servers)")
