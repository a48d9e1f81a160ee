"""``REDIS_ACL_LEARN=1 make test``: record what the app user sends, and generate its command rules from it.

The session's server then runs with ``app`` unrestricted; this recorder
reads ``MONITOR`` (every command of every client, in the order the server
ran them) and keeps those sent by connections authenticated as ``app``
(``CLIENT LIST`` maps a client address to its user; commands a script ran,
shown as ``[0 lua]``, belong to the client whose script it was: the line
before them).  At the end of the session it rewrites
``config/acl_app_commands.txt`` (``config.acl.generate_command_rules``) and
prints what it saw: commands, channels, and key names no registry family
covers (those need a ``@family`` in a ``keys.py``, or a library pattern in
``config/acl.py``).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path

import redis

from config import acl

_LINE = re.compile(r'^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$')
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')

#: Commands whose first argument names a subcommand (``CLIENT SETNAME`` is ``client|setname`` to ACLs).
CONTAINERS = {"client", "command", "config", "function", "script", "xinfo", "xgroup", "object", "memory",
              "pubsub", "cluster", "acl", "latency", "slowlog", "module"}
#: Commands whose first argument is not a key.
NO_KEY = CONTAINERS | {"ping", "auth", "hello", "select", "info", "multi", "exec", "discard", "eval", "evalsha",
                       "fcall", "fcall_ro", "eval_ro", "evalsha_ro", "publish", "subscribe", "unsubscribe",
                       "psubscribe", "punsubscribe", "spublish", "ssubscribe", "sunsubscribe", "time", "echo",
                       "quit", "reset", "readonly", "readwrite", "wait", "dbsize", "scan", "unwatch", "flushall",
                       "flushdb", "keys", "lastsave", "role", "randomkey", "debug", "shutdown", "monitor", "save",
                       "bgsave", "swapdb"}
CHANNEL_COMMANDS = {"publish", "subscribe", "psubscribe", "spublish", "ssubscribe"}


def _unquote(text: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})|\\(.)", lambda m: chr(int(m[1], 16)) if m[1] else m[2], text)


class Recorder(threading.Thread):
    """Reads ``MONITOR`` on the session server until stopped; ``observed()`` is what ``app`` sent."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(name="acl-learn", daemon=True)
        self.host, self.port = host, port
        self.stop_event = threading.Event()
        self.users: dict[str, str] = {}
        self.commands: Counter[str] = Counter()
        self.channels: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()
        self.unknown = 0
        self.lines = 0
        self.refreshed = 0.0

    def _refresh_users(self, client: redis.Redis) -> None:
        # Replaced, not merged: a closed connection's port may be reused by a client of another user.
        self.users = {entry["addr"]: entry.get("user", "default") for entry in client.client_list()}
        self.refreshed = time.monotonic()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._monitor()
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self.stop_event.wait(0.2)  # the server restarted under a test: read again once it is back

    def _monitor(self) -> None:
        lookup = redis.Redis(host=self.host, port=self.port, decode_responses=True, socket_timeout=5)
        conn = redis.Connection(host=self.host, port=self.port, decode_responses=True, socket_timeout=1)
        conn.connect()
        conn.send_command("MONITOR")
        conn.read_response()  # OK
        current_user = "default"
        try:
            while not self.stop_event.is_set():
                try:
                    line = conn.read_response()
                except redis.TimeoutError:
                    continue
                match = _LINE.match(line)
                if not match:
                    continue
                self.lines += 1
                where, args = match[1], [_unquote(a) for a in _ARG.findall(match[2])]
                if not args:
                    continue
                if where != "lua":
                    if where not in self.users or time.monotonic() - self.refreshed > 0.2:
                        self._refresh_users(lookup)
                    current_user = self.users.get(where, "?")
                    if current_user == "?":
                        self.unknown += 1
                if current_user == acl.APP_USER:
                    self._record(args)
        finally:
            conn.disconnect()
            lookup.close()

    def _record(self, args: list[str]) -> None:
        name = args[0].lower()
        if name in CONTAINERS and len(args) > 1:
            self.commands[f"{name}|{args[1].lower()}"] += 1
        else:
            self.commands[name] += 1
        if name in CHANNEL_COMMANDS:
            for channel in args[1:] if name != "publish" and name != "spublish" else args[1:2]:
                self.channels[channel] += 1
        elif name not in NO_KEY and len(args) > 1:
            self.keys[args[1]] += 1

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)


def category_members(client: redis.Redis) -> dict[str, set[str]]:
    """``ACL CAT <category>`` for every category the app may be granted or is denied."""
    cats = (*acl.GRANTABLE_CATEGORIES, *acl.DENIED_CATEGORIES)
    return {cat: {c.lower() for c in client.acl_cat(cat)} for cat in cats}


def finish(recorder: Recorder, client: redis.Redis, prefix: str, out: Path = acl.COMMANDS_FILE) -> str:
    """Write the generated command rules and return a report of what was seen."""
    from config.keyspace import families

    recorder.stop()
    rules, refused = acl.generate_command_rules(set(recorder.commands), category_members(client))
    out.write_text(acl.render_command_rules(rules, recorder.commands))
    family_globs = [re.compile("^" + re.escape(f"{prefix}:" if prefix else "") +
                               re.sub(r"<[^>]*>", ".*", re.escape(f.pattern).replace(r"\<", "<").replace(r"\>", ">"))
                               + "$") for f in families()]
    libs = [re.compile("^" + re.escape(p).replace(r"\*", ".*") + "$")
            for p in acl.library_key_patterns(prefix) + acl.library_channel_patterns(prefix)]
    stray_keys = sorted(k for k in recorder.keys if not any(g.match(k) for g in family_globs + libs))
    stray_channels = sorted(c for c in recorder.channels if not any(g.match(c) for g in family_globs + libs))
    lines = [f"ACL learn: {recorder.lines} commands seen, {sum(recorder.commands.values())} sent by the app user "
             f"({len(recorder.commands)} distinct); {recorder.unknown} from connections that closed before their "
             f"user was known; wrote {out}",
             "  rules: " + " ".join(rules)]
    if refused:
        lines.append("  sent by the app but never granted (config.acl.DENIED): " + ", ".join(sorted(refused)))
    if stray_keys:
        lines.append(f"  keys no family covers ({len(stray_keys)}): " + ", ".join(stray_keys[:30]))
    if stray_channels:
        lines.append(f"  channels no family covers ({len(stray_channels)}): " + ", ".join(stray_channels[:30]))
    return "\n".join(lines)
