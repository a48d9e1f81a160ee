"""Fixtures for tests that run real worker and web processes next to the test process.

Processes cannot share pytest-django's test database (in-memory SQLite, or
a transaction that is rolled back), so these tests use a database of their
own: ``shared_db`` creates and migrates it, points this process's
``default`` connection at it for the duration of the module (Django's own
test-database setup swaps ``settings_dict["NAME"]`` the same way), and hands
child processes a ``DATABASE_URL`` naming that same database.  With SQLite
(the default) it is a **file** in WAL mode, as in production settings; with
PostgreSQL (``DATABASE_URL=postgres://...``, as CI runs it when the machine
has one) it is a database named after this run's test database
(``test_<name>_<pid>_shared<n>``), created and dropped here, so suites run at
the same time on one server never meet.

- ``start_worker(consumer, *args, redis_url=...)``: ``manage.py run_stream_worker
  orders`` as a child process on the shared database; stopped after the test.
- ``web_server``: uvicorn with 3 worker processes on the shared database, with
  the Procfile's server flags.
- ``procfile_web(**env)``: the Procfile's own ``web:`` command line, as ``make
  run`` starts it (through a shell, ``$WEB_HOST``/``$WEB_PORT`` filled in), on
  the shared database: for behaviour that lives in the server's flags.
"""

from __future__ import annotations

import copy
import http.client
import itertools
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.utils import load_backend

from redis_patterns.servers import free_port
from tests.conftest import wait_for

ROOT = Path(settings.BASE_DIR)


def procfile_command(name: str) -> str:
    """The command line of process ``name`` in the Procfile, exactly as written."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise KeyError(f"no {name!r} process in the Procfile")


def procfile_web_flags() -> list[str]:
    """The web process's server flags from the Procfile (everything but the app, host and port)."""
    words = shlex.split(procfile_command("web"))
    flags = words[words.index("config.asgi:application") + 1:]
    out: list[str] = []
    skip = False
    for word in flags:
        if skip:
            skip = False
        elif word in ("--host", "--port"):
            skip = True
        else:
            out.append(word)
    return out


@dataclass
class SharedDb:
    url: str
    redis_url: str

    def env(self, redis_url: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.url,
            REDIS_URL=redis_url or self.redis_url,
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            # Many visitors from one test client share 127.0.0.1: lift the per-IP
            # checkout and API limits (tested on their own in tests/config/).
            RATELIMIT_CHECKOUT="100000",
            RATELIMIT_API="100000",
        )
        return env


_shared_count = itertools.count(1)


def _postgres_database(settings_dict: dict, name: str, *, drop: bool = False) -> None:
    """``CREATE DATABASE name`` (or ``DROP ... WITH (FORCE)``) on the server of ``settings_dict``."""
    import psycopg
    from psycopg import sql

    params = {k: v for k, v in {"host": settings_dict.get("HOST"), "port": settings_dict.get("PORT"),
                                "user": settings_dict.get("USER"), "password": settings_dict.get("PASSWORD")}.items()
              if v}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        statement = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if drop else "CREATE DATABASE {}"
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


def _postgres_url(settings_dict: dict, name: str) -> str:
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}/{name}"


def database_url(settings_dict: dict) -> str:
    """A ``DATABASE_URL`` for the database ``settings_dict`` names (SQLite file or PostgreSQL), for a child."""
    if settings_dict["ENGINE"] == "django.db.backends.postgresql":
        return _postgres_url(settings_dict, settings_dict["NAME"])
    return f"sqlite:///{settings_dict['NAME']}"


@pytest.fixture(scope="module")
def shared_db(django_db_blocker, django_db_modify_db_settings, tmp_path_factory, redis_server) -> Iterator[SharedDb]:
    with django_db_blocker.unblock():
        old = connections["default"]
        settings_dict = copy.deepcopy(old.settings_dict)
        postgres = settings_dict["ENGINE"] == "django.db.backends.postgresql"
        if postgres:
            base = (settings_dict.get("TEST") or {}).get("NAME") or f"test_{settings_dict['NAME']}"
            name = f"{base}_shared{next(_shared_count)}"
            _postgres_database(settings_dict, name, drop=True)  # left over by a run that was killed
            _postgres_database(settings_dict, name)
            settings_dict["NAME"] = name
            url = _postgres_url(settings_dict, name)
        else:
            path = tmp_path_factory.mktemp("shared-db") / "db.sqlite3"
            settings_dict["NAME"] = str(path)
            url = f"sqlite:///{path}"
        new = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
        connections["default"] = new
        try:
            call_command("migrate", verbosity=0, interactive=False)
            # the app's URL (the app user's credentials), not the server's bare one
            yield SharedDb(url, os.environ["REDIS_URL"])
        finally:
            new.close()
            connections["default"] = old
            if postgres:
                _postgres_database(settings_dict, settings_dict["NAME"], drop=True)


@pytest.fixture
def clean_db(shared_db: SharedDb) -> SharedDb:
    """Empty order tables at the start of a test (the file outlives single tests)."""
    from shop.models import Order, OutboxMessage, Product

    Order.objects.all().delete()
    OutboxMessage.objects.all().delete()
    Product.objects.all().delete()
    return shared_db


def make_product(stock: int = 1000, price: str = "2.50") -> object:
    from shop.models import Category, Product

    category, _ = Category.objects.get_or_create(slug="test", defaults={"name": "Test"})
    n = Product.objects.count() + 1
    return Product.objects.create(category=category, name=f"Product {n}", slug=f"product-{n}-{os.urandom(3).hex()}",
                                  description="", price=Decimal(price), stock=stock, image_hue=10)


def make_orders(n: int, product: object | None = None) -> list[int]:
    """``n`` pending orders of one unit each, straight into the database (the producer is not under test)."""
    from shop.models import Order, OrderItem

    product = product or make_product()
    orders = Order.objects.bulk_create([Order(owner=f"session:test{i}", total=Decimal("2.50")) for i in range(n)])
    OrderItem.objects.bulk_create([OrderItem(order=o, product=product, quantity=1, unit_price=Decimal("2.50"))
                                   for o in orders])
    return [o.pk for o in orders]


def publish(client, order_ids: list[int], stream: str | None = None) -> None:
    from shop import keys

    pipe = client.pipeline(transaction=False)
    for oid in order_ids:
        pipe.xadd(stream or keys.orders_stream(), {"order_id": str(oid)})
    pipe.execute()


def status_counts() -> dict[str, int]:
    from django.db.models import Count

    from shop.models import Order

    return dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))


def _stopped(pid: int) -> bool:
    """Whether the process is stopped (state ``T`` in ``/proc/<pid>/stat``): SIGSTOP is not instant."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] in ("T", "t")


@dataclass
class WorkerProcs:
    db: SharedDb
    tmp: Path
    procs: list[tuple[subprocess.Popen, Path]] = field(default_factory=list)

    def __call__(self, consumer: str, *args: str, redis_url: str | None = None,
                 group: str = "fulfilment", relay: bool = False) -> subprocess.Popen:
        """A worker process; ``relay=True`` runs the outbox relay and its reconciler in it too (as make run does)."""
        log = self.tmp / f"worker-{consumer}-{len(self.procs)}.log"
        cmd = [sys.executable, "manage.py", "run_stream_worker", "orders", "--group", group,
               "--consumer", consumer, "--block-ms", "300", *([] if relay else ["--no-relay"]), *args]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.db.env(redis_url), stdout=out, stderr=subprocess.STDOUT)
        self.procs.append((proc, log))
        return proc

    def pause(self, proc: subprocess.Popen, timeout: float = 30.0) -> None:
        """SIGSTOP ``proc`` at a moment it has no database transaction open.

        A worker frozen inside a transaction holds its locks for as long as it
        is frozen: on SQLite (one writer for the whole file) every checkout then
        waits for the write lock and fails after the busy timeout, which is not
        what a drill about losing Redis measures. So: stop it, look, and if it
        was caught inside a transaction, let it run a moment and try again,
        until ``timeout`` seconds have passed.
        """
        deadline = time.monotonic() + timeout
        tries = 0
        while True:
            proc.send_signal(signal.SIGSTOP)
            wait_for(lambda: _stopped(proc.pid), timeout=5, interval=0.005)
            tries += 1
            if not self._transaction_open():
                return
            proc.send_signal(signal.SIGCONT)  # let it finish that transaction, then try again
            try:
                wait_for(lambda: not self._transaction_open(), timeout=max(deadline - time.monotonic(), 0.0),
                         interval=0.01)
            except AssertionError:
                raise AssertionError(f"process {proc.pid} was inside a transaction at each of {tries} pauses "
                                     f"in {timeout} s") from None

    def _transaction_open(self) -> bool:
        """Whether another connection holds a transaction: the SQLite write lock, or a PostgreSQL session
        idle in a transaction on this database."""
        if self.db.url.startswith("sqlite:"):
            import sqlite3

            probe = sqlite3.connect(self.db.url.removeprefix("sqlite:///"), timeout=0.2, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")  # WAL: only a writer blocks this
                probe.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                probe.close()
        import psycopg

        with psycopg.connect(self.db.url, autocommit=True) as probe:
            row = probe.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'").fetchone()
        return bool(row and row[0])

    def log(self, proc: subprocess.Popen) -> str:
        for p, path in self.procs:
            if p is proc:
                return path.read_text(errors="replace")
        raise KeyError(proc)

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def start_worker(clean_db: SharedDb, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    procs = WorkerProcs(clean_db, tmp_path)
    yield procs
    procs.stop_all()


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


@pytest.fixture(scope="module")
def web_server(shared_db: SharedDb, tmp_path_factory) -> Iterator[str]:
    """The ASGI app in 3 uvicorn worker processes on the shared database: ``http://127.0.0.1:<port>``."""
    port = free_port()
    log = tmp_path_factory.mktemp("web") / "uvicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             *procfile_web_flags(), "--workers", "3", "--log-level", "warning"],
            cwd=ROOT, env=shared_db.env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _healthy(port) or proc.poll() is not None, timeout=30)
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {log.read_text()[-2000:]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class WebProcs:
    db: SharedDb
    tmp: Path
    procs: list[tuple[subprocess.Popen, Path]] = field(default_factory=list)

    def __call__(self, **env: str) -> str:
        """Start the Procfile's ``web:`` line with extra ``env``; returns its base URL once healthy."""
        port = free_port()
        log = self.tmp / f"procfile-web-{port}.log"
        full = {**self.db.env(), "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port), **env}
        with open(log, "wb") as out:
            # start_new_session: the shell and uvicorn form one group, stopped together
            proc = subprocess.Popen(["bash", "-c", "exec " + procfile_command("web")], cwd=ROOT, env=full,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((proc, log))
        wait_for(lambda: _healthy(port) or proc.poll() is not None, timeout=30)
        if proc.poll() is not None:
            raise RuntimeError(f"the Procfile's web process exited: {log.read_text()[-2000:]}")
        return f"http://127.0.0.1:{port}"

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def procfile_web(shared_db: SharedDb, tmp_path: Path) -> Iterator[Callable[..., str]]:
    procs = WebProcs(shared_db, tmp_path)
    yield procs
    procs.stop_all()
