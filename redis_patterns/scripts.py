"""Lua scripts loaded by name, run as Redis Functions or with ``EVALSHA``.

Pattern
    Each script is a file ``<package>/lua/<name>.lua`` with a header giving
    ``KEYS[i]``, ``ARGV[i]`` and the return value.  ``Scripts(package)`` reads
    them once; ``scripts.call(client, "name", keys=[...], args=[...])`` runs
    one.  Scripts receive every key through ``KEYS`` and never build key
    names, so they run on Redis Cluster when their keys share a hash slot.

Two ways to run, one contract
    - **Functions** (Redis 7+, Valkey 7.2+): all scripts of a package become
      one library, loaded with ``FUNCTION LOAD`` and called with ``FCALL``.
      Functions are part of the dataset: they survive restarts (with RDB/AOF)
      and are replicated, so a replica promoted by Sentinel already has them.
      The library name carries a hash of its source (``redis_patterns_3fa2b1c0``):
      two versions of the app can run side by side during a deploy.
    - **EVALSHA** (older servers, or ``use_functions=False``): scripts are
      cached by SHA1; after a restart, ``SCRIPT FLUSH`` or a failover the cache
      is empty and the server answers ``NOSCRIPT``, so we send the source
      with ``SCRIPT LOAD`` and retry once.

    The first call on a client decides: ``FCALL`` answered "unknown command"
    means no Functions, and the client stays on ``EVALSHA`` from then on.
    Either way the caller sees the same result; ``tests/redis_patterns/
    test_scripts.py`` runs one contract suite against both.

Round trips
    1 per call when the script is loaded; 3 on the first call after the server
    lost it (the failing call, the load, the retry).  In a pipeline
    (``queue`` then ``execute`` or ``run_pipeline``) the script rides along in
    the pipeline's one round trip, with the same recovery.

Header flags
    A line ``-- flags: no-writes`` in the header registers the function with
    that flag, so it may run on a replica with ``FCALL_RO``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from redis_patterns.roundtrips import direct_call

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FLAGS = re.compile(r"^--\s*flags:\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    sha: str
    flags: tuple[str, ...]
    path: Path


class Scripts:
    """The Lua scripts of one package, callable by name.

    Args:
        package: a dotted package name whose ``lua/`` folder holds the scripts,
            e.g. ``"redis_patterns"``; or a ``Path`` to a folder of ``.lua`` files.
        library: the Functions library base name (default: the package name
            with dots as underscores).
        use_functions: ``None`` (default) uses Functions when the server has
            them; ``False`` always uses ``EVALSHA``; ``True`` requires Functions.
    """

    def __init__(self, package: str | Path, *, library: str | None = None,
                 use_functions: bool | None = None) -> None:
        if isinstance(package, Path):
            directory = package
            base = library or package.name
        else:
            directory = Path(str(resources.files(package).joinpath("lua")))
            base = library or package.replace(".", "_")
        self.directory = directory
        self.use_functions = use_functions
        self.scripts: dict[str, Script] = {}
        for path in sorted(directory.glob("*.lua")):
            name = path.stem
            if not _NAME.match(name):
                raise ValueError(f"script file name {path.name!r}: use lower_snake_case")
            source = path.read_text()
            match = _FLAGS.search(source)
            flags = tuple(f.strip() for f in match.group(1).split(",")) if match else ()
            sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
            self.scripts[name] = Script(name, source, sha, flags, path)
        digest = hashlib.sha1(
            "".join(s.sha for s in self.scripts.values()).encode(), usedforsecurity=False
        ).hexdigest()[:8]
        self.library = f"{base}_{digest}"
        self.library_code = self._library_code()
        self.function_names = {name: self.function_name(name) for name in self.scripts}
        # Per client: True (Functions) / False (EVALSHA), decided on its first call and
        # then only read.  Keyed by id() with a finalizer that drops the entry when the
        # client is collected: a plain dict read is the whole per-call bookkeeping (a
        # WeakKeyDictionary builds a weak reference on every lookup).
        self._modes: dict[int, bool] = {}

    # -- what gets sent ---------------------------------------------------------------

    def function_name(self, name: str) -> str:
        return f"{self.library}_{name}"

    def _library_code(self) -> str:
        parts = [f"#!lua name={self.library}"]
        for script in self.scripts.values():
            flags = ", ".join(f"'{f}'" for f in script.flags)
            # KEYS and ARGV become the callback's parameters, so a script body
            # reads exactly as it would under EVAL.
            parts.append(
                f"redis.register_function{{function_name='{self.function_name(script.name)}', "
                f"flags={{{flags}}}, callback=function(KEYS, ARGV)\n{script.source}\nend}}"
            )
        return "\n".join(parts)

    def __getitem__(self, name: str) -> Script:
        try:
            return self.scripts[name]
        except KeyError:
            raise KeyError(f"no script {name!r} in {self.directory}") from None

    def mode(self, client: Any) -> str | None:
        """``"functions"``, ``"evalsha"``, or ``None`` before the first call on ``client``."""
        mode = self._modes.get(id(client))
        return None if mode is None else ("functions" if mode else "evalsha")

    def _set_mode(self, client: Any, functions: bool) -> None:
        key = id(client)
        if key not in self._modes:
            try:
                weakref.finalize(client, self._modes.pop, key, None)
            except TypeError:
                pass  # not weak-referenceable: the entry stays (a few bytes per such client)
        self._modes[key] = functions

    def _forget(self, client: Any) -> None:
        self._modes.pop(id(client), None)

    # -- sync -------------------------------------------------------------------------

    def _try_functions(self, client: Any) -> bool:
        """Whether to send ``FCALL`` to ``client``: yes until the server proved it has no Functions."""
        functions = self._modes.get(id(client), self.use_functions is not False)
        if not functions:
            self._set_mode(client, False)
        return functions

    def _after_fcall_error(self, client: Any, exc: ResponseError) -> bool:
        """Decide after a failed ``FCALL``: ``True`` = the library is missing, load it and call
        again; ``False`` = no Functions on this server, use ``EVALSHA`` from now on.  Any other
        error is the script's own: re-raised."""
        if _function_missing(exc):
            return True
        if _unknown_command(exc) and not self.use_functions:
            self._set_mode(client, False)
            return False
        raise exc

    def call(self, client: Any, name: str, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        """Run script ``name`` with ``keys`` and ``args``; returns what it returns.

        Once the client's mode is known this is one dict read and one
        ``FCALL`` (or ``EVALSHA``) sent with ``roundtrips.direct_call``: the hot
        path of every rate-limit decision, so it does no other bookkeeping.
        """
        mode = self._modes.get(id(client))
        if mode is True:
            try:
                return direct_call(client, "FCALL", self.function_names[name], len(keys), *keys, *args)
            except ResponseError as exc:
                if not _function_missing(exc):
                    raise
            # the server lost the library (restart, FUNCTION FLUSH): load it, call again
            self.load_library(client)
            return direct_call(client, "FCALL", self.function_names[name], len(keys), *keys, *args)
        if mode is False:
            script = self[name]
            try:
                return direct_call(client, "EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                client.script_load(script.source)
                return direct_call(client, "EVALSHA", script.sha, len(keys), *keys, *args)
        return self._first_call(client, name, keys, args)

    def _first_call(self, client: Any, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """The first call on a client (or after the server lost the library): find the mode."""
        script = self[name]
        if self._try_functions(client):
            try:
                result = client.fcall(self.function_name(name), len(keys), *keys, *args)
                self._set_mode(client, True)
                return result
            except ResponseError as exc:
                if self._after_fcall_error(client, exc):
                    self.load_library(client)
                    self._set_mode(client, True)
                    return client.fcall(self.function_name(name), len(keys), *keys, *args)
        try:
            return client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(script.source)
            return client.evalsha(script.sha, len(keys), *keys, *args)

    def load_library(self, client: Any) -> None:
        """``FUNCTION LOAD`` this package's library (a no-op if it is there)."""
        try:
            client.function_load(self.library_code)
        except ResponseError as exc:
            if "already exists" not in str(exc):
                raise

    def queue(self, client: Any, pipe: Any, name: str, keys: Sequence[Any] = (),
              args: Sequence[Any] = ()) -> None:
        """Queue script ``name`` in ``pipe``, a pipeline of ``client``.

        Run the pipeline with ``execute()`` (or build it in ``run_pipeline()``)
        rather than ``pipe.execute()``: a pipeline cannot reload a script the
        server forgot mid-flight, and those two recover.  The first time this
        loader meets ``client`` it loads the library (or the scripts) up front,
        one extra round trip per process.
        """
        script = self[name]
        if self._modes.get(id(client)) is None:
            self._ensure_loaded(client)
        queued = pipe.__dict__.setdefault("_rp_scripts", {})
        queued[len(pipe)] = (name, tuple(keys), tuple(args))
        if self._modes.get(id(client)):
            pipe.fcall(self.function_name(name), len(keys), *keys, *args)
        else:
            pipe.evalsha(script.sha, len(keys), *keys, *args)

    def execute(self, client: Any, pipe: Any, *, raise_on_error: bool = True) -> list[Any]:
        """``pipe.execute()``, recovering script entries the server had forgotten.

        Each queued script that failed as missing runs again on its own through
        ``call()`` (which reloads): entries that ran are not repeated, so this
        is safe for pipelines of independent writes.  When later commands in the
        pipeline depend on a script's effect, use ``run_pipeline()`` instead.
        """
        queued = pipe.__dict__.pop("_rp_scripts", {})
        replies = pipe.execute(raise_on_error=False)
        for index, (name, keys, args) in queued.items():
            reply = replies[index]
            if isinstance(reply, ResponseError) and _script_missing(reply):
                replies[index] = self.call(client, name, keys=keys, args=args)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    def run_pipeline(self, client: Any, build: Callable[[Any], None], *, transaction: bool = False) -> list[Any]:
        """Build a pipeline with ``build(pipe)``, run it, and if the server had
        forgotten a script, reload and run the whole pipeline once more.

        For pipelines whose commands depend on a script's effect (a script that
        builds a key, then a read of that key), where re-running the failed
        script alone would not fix the read.  ``build`` must be safe to run
        twice: reads, or writes that are idempotent.
        """
        pipe = client.pipeline(transaction=transaction)
        build(pipe)
        queued = pipe.__dict__.pop("_rp_scripts", {})
        replies = pipe.execute(raise_on_error=False)
        if any(isinstance(replies[i], ResponseError) and _script_missing(replies[i]) for i in queued):
            self._forget(client)
            self._ensure_loaded(client)
            pipe = client.pipeline(transaction=transaction)
            build(pipe)
            pipe.__dict__.pop("_rp_scripts", None)
            replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _ensure_loaded(self, client: Any) -> None:
        if self.use_functions is not False:
            try:
                self.load_library(client)
                self._set_mode(client, True)
                return
            except ResponseError as exc:
                if not _unknown_command(exc) or self.use_functions:
                    raise
        for script in self.scripts.values():
            client.script_load(script.source)
        self._set_mode(client, False)

    # -- async (redis.asyncio) ----------------------------------------------------------

    async def acall(self, client: Any, name: str, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        """``call`` for a ``redis.asyncio`` client."""
        script = self[name]
        mode = self._modes.get(id(client))
        if mode is True:
            try:
                return await client.execute_command("FCALL", self.function_names[name], len(keys), *keys, *args)
            except ResponseError as exc:
                if not _function_missing(exc):
                    raise
                self._forget(client)
        if self._try_functions(client):
            try:
                result = await client.fcall(self.function_name(name), len(keys), *keys, *args)
                self._set_mode(client, True)
                return result
            except ResponseError as exc:
                if self._after_fcall_error(client, exc):
                    await self.aload_library(client)
                    self._set_mode(client, True)
                    return await client.fcall(self.function_name(name), len(keys), *keys, *args)
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await client.script_load(script.source)
            return await client.evalsha(script.sha, len(keys), *keys, *args)

    async def aload_library(self, client: Any) -> None:
        try:
            await client.function_load(self.library_code)
        except ResponseError as exc:
            if "already exists" not in str(exc):
                raise


def _unknown_command(exc: ResponseError) -> bool:
    return "unknown command" in str(exc).lower()


def _function_missing(exc: ResponseError) -> bool:
    return "function not found" in str(exc).lower()


def _script_missing(exc: ResponseError) -> bool:
    """The server no longer has the function or the script (``NOSCRIPT``)."""
    return isinstance(exc, NoScriptError) or _function_missing(exc)


_loaders: dict[str, Scripts] = {}
_loaders_lock = threading.Lock()


def loader(package: str) -> Scripts:
    """The process-wide loader of ``<package>/lua/*.lua``, built on first use.

    Every module that runs a package's scripts shares this one object, so the
    library is checked or loaded once per client, not once per module.  It
    reads files only: nothing connects, and nothing happens at import time.
    """
    found = _loaders.get(package)
    if found is None:
        with _loaders_lock:
            found = _loaders.setdefault(package, Scripts(package))
    return found
