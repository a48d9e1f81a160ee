"""Start and stop private ``redis-server`` processes.

The test suite, the benchmarks and the labs never touch a Redis they did not
start: each gets a server on a free port, with its own directory for data,
log and pid file.  Which server runs comes from the environment, so the same
code runs against Valkey, a newer Redis build or Redis Stack with its modules:

- ``REDIS_SERVER_BIN``: the binary (default: ``redis-server`` on ``PATH``),
  e.g. a ``valkey-server``.
- ``REDIS_SERVER_ARGS``: extra start-up arguments for every data server
  (shell-quoted), e.g. ``--loadmodule /opt/stack/lib/redisearch.so``.
  Sentinels do not get them.
- ``REDIS_SERVER_ENV``: extra environment for every server process
  (``NAME=value`` pairs, shell-quoted), e.g. ``LD_LIBRARY_PATH=/opt/ssl1.1/lib``
  for a binary linked against a library the system does not have.

``scripts/test_servers.py`` (``make test-servers``) sets all three for each
server of the matrix; ``server_spec()`` reads them and ``describe_server()``
names what runs ("Valkey 9.1.2", "Redis 7.4.1").

A server is a plain object with ``start()``, ``stop()`` (clean ``SHUTDOWN``),
``kill()`` (``SIGKILL``, to count what a crash loses), ``pause()``/``resume()``
(``SIGSTOP``/``SIGCONT``) and ``url``.
"""

from __future__ import annotations

import functools
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BIN = "redis-server"


class RedisServerError(RuntimeError):
    """The server binary is missing or the server did not come up."""


def server_binary() -> str:
    """The ``redis-server`` (or ``valkey-server``) to run, from ``REDIS_SERVER_BIN``."""
    name = os.environ.get("REDIS_SERVER_BIN", DEFAULT_BIN)
    path = shutil.which(name)
    if path is None:
        raise RedisServerError(
            f"{name!r} was not found on PATH. Install Redis "
            "(apt-get install redis-server, or brew install redis) "
            "or point REDIS_SERVER_BIN at a redis-server or valkey-server binary."
        )
    return path


def _parse_env(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in shlex.split(text):
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise RedisServerError(f"REDIS_SERVER_ENV: expected NAME=value, got {pair!r}")
        env[name] = value
    return env


@dataclass(frozen=True)
class ServerSpec:
    """Which server to run and how: binary, extra start-up arguments, extra environment.

    Attributes:
        binary: absolute path of the server binary.
        args: appended to every data server's command line (not to Sentinels),
            e.g. ``("--loadmodule", "/path/redisearch.so")``.
        env: added to the environment of every server process (and of
            ``--version``), e.g. ``{"LD_LIBRARY_PATH": "/path/lib"}``.
    """

    binary: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def process_env(self) -> dict[str, str]:
        """``os.environ`` plus this spec's variables (library paths go in front of any existing ones)."""
        merged = dict(os.environ)
        for name, value in self.env.items():
            if name.endswith("PATH") and merged.get(name):
                value = f"{value}{os.pathsep}{merged[name]}"
            merged[name] = value
        return merged


def server_spec() -> ServerSpec:
    """The server this process should run, from ``REDIS_SERVER_BIN``/``_ARGS``/``_ENV``."""
    return ServerSpec(
        binary=server_binary(),
        args=tuple(shlex.split(os.environ.get("REDIS_SERVER_ARGS", ""))),
        env=_parse_env(os.environ.get("REDIS_SERVER_ENV", "")),
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (never 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 6379:
            return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too (both <= 65535)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 45000)
        if _port_free(port) and _port_free(port + 10000):
            return port
    raise RedisServerError("no free port pair for a cluster node")


@functools.lru_cache(maxsize=16)
def _version_line(binary: str, env: tuple[tuple[str, str], ...]) -> str:
    spec = ServerSpec(binary=binary, env=dict(env))
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, env=spec.process_env())
    if result.returncode != 0:
        raise RedisServerError(f"{binary} --version failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def _identify(binary: str | None) -> tuple[str, tuple[int, int, int]]:
    env = _parse_env(os.environ.get("REDIS_SERVER_ENV", ""))
    out = _version_line(binary or server_binary(), tuple(sorted(env.items())))
    # "Redis server v=7.0.15 sha=..." or "Valkey server v=9.1.2 ..."
    for part in out.split():
        if part.startswith("v="):
            major, minor, patch = (part[2:].split(".") + ["0", "0"])[:3]
            return out.split()[0], (int(major), int(minor), int(patch))
    raise RedisServerError(f"cannot read a version from {out!r}")


def server_version(binary: str | None = None) -> tuple[int, int, int]:
    """The version of the server binary, e.g. ``(7, 0, 15)``."""
    return _identify(binary)[1]


def server_name(binary: str | None = None) -> str:
    """The product the binary says it is: ``"Redis"`` or ``"Valkey"`` (from ``--version``)."""
    return _identify(binary)[0]


def describe_server(binary: str | None = None) -> str:
    """``"Valkey 9.1.2"``, ``"Redis 7.0.15"``: how benchmarks and test headers label the server."""
    name, version = _identify(binary)
    return f"{name} {'.'.join(map(str, version))}"


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1 with its own directory.

    Args:
        port: TCP port; a free one when omitted.
        directory: where data, log and pid file go; a fresh temp dir when omitted
            (removed by ``cleanup()``).
        config: extra ``redis.conf`` directives, e.g. ``{"appendonly": "yes"}``.
            Persistence is off unless asked for.
        name: a label used in the temp dir name and in error messages.
        args: extra command-line arguments, after ``config`` (default: the
            spec's, from ``REDIS_SERVER_ARGS``: e.g. the modules to load).
        env: extra environment for the process (default: the spec's, from
            ``REDIS_SERVER_ENV``).
        spec: the server to run (default: ``server_spec()``).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        directory: str | os.PathLike[str] | None = None,
        config: dict[str, str] | None = None,
        name: str = "redis",
        args: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        spec: ServerSpec | None = None,
    ) -> None:
        spec = spec or server_spec()
        self.spec = ServerSpec(
            binary=spec.binary,
            args=spec.args if args is None else tuple(args),
            env=spec.env if env is None else {**spec.env, **env},
        )
        self.binary = self.spec.binary
        self.port = port or free_port()
        if self.port == 6379:
            raise RedisServerError("refusing to run a private server on 6379")
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix=f"{name}-{self.port}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.config = {"save": "", "appendonly": "no", **(config or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def logfile(self) -> Path:
        return self.dir / "redis.log"

    def command_line(self) -> list[str]:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.dir),
            "--logfile", str(self.logfile),
            "--pidfile", str(self.dir / "redis.pid"),
            "--daemonize", "no",
        ]
        for key, value in self.config.items():
            args += [f"--{key}", *value.split()] if value else [f"--{key}", ""]
        return args + list(self.spec.args)

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the process and wait until it answers PING."""
        if self.running:
            return self
        self.process = subprocess.Popen(
            self.command_line(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=self.spec.process_env(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                log = self.logfile.read_text() if self.logfile.exists() else ""
                raise RedisServerError(f"{self.name} on port {self.port} exited: {err}{log[-2000:]}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RedisServerError(f"{self.name} on port {self.port} did not answer within {timeout}s")

    def ping(self) -> bool:
        """True when the server answers PING (or is still loading its data, or wants a user: ACLs on)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        return reply.startswith((b"+PONG", b"-LOADING", b"-NOAUTH"))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 10.0) -> None:
        """Clean shutdown (``SHUTDOWN``; saves if persistence is on)."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Crash the server with SIGKILL: nothing is flushed, nothing is saved."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP), e.g. to force a failover."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and remove its temp dir (when this object created it)."""
        self.resume()
        self.stop()
        if self.process and self.process.stderr:
            self.process.stderr.close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.name} {self.url} {state}>"


def start_replica(primary: RedisServer, **kwargs: object) -> RedisServer:
    """A replica of ``primary`` (``replicaof``), started and syncing."""
    config = dict(kwargs.pop("config", {}) or {})  # type: ignore[arg-type]
    config["replicaof"] = f"{primary.host} {primary.port}"
    replica = RedisServer(config=config, name="replica", **kwargs).start()  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    while b"master_link_status:up" not in _call(replica, "INFO", "replication"):
        if time.monotonic() > deadline:
            raise RedisServerError(f"replica on {replica.port} did not finish its first sync")
        time.sleep(0.02)
    return replica


def _call(node: RedisServer, *args: str) -> bytes:
    """Send one command on a fresh socket and return the raw reply (no client library)."""
    with socket.create_connection((node.host, node.port), timeout=2) as sock:
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            parts.append(f"${len(a.encode())}\r\n{a}\r\n".encode())
        sock.sendall(b"".join(parts))
        return sock.recv(65536)


class SentinelServer(RedisServer):
    """A Sentinel watching one primary under ``master_name``."""

    def __init__(self, primary: RedisServer, *, master_name: str = "mymaster", quorum: int = 1,
                 down_after_ms: int = 1000, **kwargs: object) -> None:
        super().__init__(name="sentinel", **kwargs)  # type: ignore[arg-type]
        self.master_name = master_name
        conf = self.dir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind {self.host}\ndir {self.dir}\nlogfile {self.logfile}\n"
            f"sentinel monitor {master_name} {primary.host} {primary.port} {quorum}\n"
            f"sentinel down-after-milliseconds {master_name} {down_after_ms}\n"
            f"sentinel failover-timeout {master_name} 5000\n"
            f"sentinel parallel-syncs {master_name} 1\n"
        )
        self._conf = conf

    def command_line(self) -> list[str]:
        # Only the environment of the spec applies: modules are for data servers.
        return [self.binary, str(self._conf), "--sentinel"]


def start_cluster(masters: int = 3, *, timeout: float = 20.0) -> list[RedisServer]:
    """A Redis Cluster of ``masters`` primaries (no replicas), slots assigned, state ok.

    Slots are split evenly with ``CLUSTER ADDSLOTSRANGE`` and the nodes
    introduced with ``CLUSTER MEET``, so no ``redis-cli`` is needed.
    """
    nodes: list[RedisServer] = []
    try:
        for i in range(masters):
            node = RedisServer(name=f"cluster-{i}", port=free_cluster_port(),
                               config={"cluster-enabled": "yes", "cluster-node-timeout": "2000"})
            nodes.append(node)
            node.start()
    except BaseException:
        for node in nodes:  # do not leak the nodes that did start
            node.cleanup()
        raise

    per = 16384 // masters
    for i, node in enumerate(nodes):
        first = i * per
        last = 16383 if i == masters - 1 else first + per - 1
        _call(node, "CLUSTER", "ADDSLOTSRANGE", str(first), str(last))
    for node in nodes[1:]:
        _call(node, "CLUSTER", "MEET", nodes[0].host, str(nodes[0].port))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(b"cluster_state:ok" in _call(n, "CLUSTER", "INFO") for n in nodes):
            # every node must also know every other node
            if all(_call(n, "CLUSTER", "NODES").count(b"\n") >= masters for n in nodes):
                return nodes
        time.sleep(0.1)
    for n in nodes:
        n.cleanup()
    raise RedisServerError("cluster did not reach cluster_state:ok")
