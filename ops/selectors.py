"""Reads of the running Redis for the operations pages: INFO, the slow log, latency, the keyspace.

Every function here only reads, with commands whose cost does not grow with
the data: ``INFO``, ``CONFIG GET``, ``SLOWLOG GET n``, ``LATENCY``, ``SCAN``
with a ``COUNT`` (never ``KEYS``), and per key ``TYPE``, ``PTTL``,
``OBJECT ENCODING``, ``MEMORY USAGE`` and a preview bounded by a count
(never ``HGETALL``, ``SMEMBERS`` or ``LRANGE 0 -1`` on a key of unknown size).
Per-key lookups for a page of keys are pipelined: one round trip.

The app's user may lack some admin commands (an ACL'd deployment): each
section then says which command was refused instead of failing the page.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from redis.exceptions import ResponseError

from config.keyspace import KeyFamily, families, family_of
from config.redis import get_ops_redis, redis_config

#: The course's fragmentation thresholds (section 3.4), with what to do about each.
FRAGMENTATION_BANDS = [
    (0.0, 1.0, "bad", "below 1.0: part of the data set is swapped out to disk; add RAM or lower maxmemory"),
    (1.0, 1.5, "ok", "1.0-1.5: healthy"),
    (1.5, float("inf"), "warn", "above 1.5: memory is fragmented; consider CONFIG SET activedefrag yes"),
]
#: Below this much data the ratio says little: the allocator's baseline dominates RSS.
FRAGMENTATION_MIN_BYTES = 100 * 1024 * 1024

PREVIEW_ITEMS = 10
PREVIEW_CHARS = 200
SCAN_COUNT = 200
SCAN_ROUNDS = 10  # SCAN calls per page at most: a sparse MATCH may return empty batches


def _prefix() -> str:
    return redis_config().key_prefix


# --- overview ------------------------------------------------------------------------------------


def fragmentation_verdict(ratio: float | None, used_memory: int) -> dict[str, str]:
    """The course's reading of ``mem_fragmentation_ratio``: ``{"level": ok|warn|bad|small, "text": ...}``."""
    if ratio is None:
        return {"level": "small", "text": "not reported"}
    if used_memory < FRAGMENTATION_MIN_BYTES:
        return {"level": "small", "text": f"{ratio:.2f} with under 100 MB of data: the allocator's baseline "
                "dominates RSS, so the ratio is not meaningful yet (1.0-1.5 is healthy on a loaded server)"}
    for low, high, level, text in FRAGMENTATION_BANDS:
        if low <= ratio < high:
            return {"level": level, "text": text}
    return {"level": "ok", "text": ""}


def live_figures(info: dict[str, Any]) -> dict[str, float]:
    """The figures the overview plots: one number each, refreshed by polling."""
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return {
        "used_memory": int(info.get("used_memory", 0)),
        "used_memory_rss": int(info.get("used_memory_rss", 0)),
        "mem_fragmentation_ratio": float(info.get("mem_fragmentation_ratio", 0) or 0),
        "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else 0.0,
        "keyspace_hits": hits,
        "keyspace_misses": misses,
        "connected_clients": int(info.get("connected_clients", 0)),
        "blocked_clients": int(info.get("blocked_clients", 0)),
        "ops_per_sec": int(info.get("instantaneous_ops_per_sec", 0)),
        "evicted_keys": int(info.get("evicted_keys", 0)),
        "expired_keys": int(info.get("expired_keys", 0)),
        "keys": sum(int(v.get("keys", 0)) for k, v in info.items() if k.startswith("db") and isinstance(v, dict)),
    }


def overview() -> dict[str, Any]:
    """``INFO`` (default sections) and ``CONFIG GET maxmemory*`` in one round trip, shaped for the page."""
    client = get_ops_redis()
    pipe = client.pipeline(transaction=False)
    pipe.info()
    pipe.config_get("maxmemory*")
    info, config = pipe.execute(raise_on_error=False)
    if isinstance(info, Exception):
        raise info
    config_error = str(config) if isinstance(config, Exception) else None
    used = int(info.get("used_memory", 0))
    ratio = info.get("mem_fragmentation_ratio")
    replicas = [
        {"name": k, "addr": f"{v.get('ip')}:{v.get('port')}", "state": v.get("state"), "offset": v.get("offset"),
         "lag": v.get("lag")}
        for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
    ]
    now = int(time.time())
    last_save = int(info.get("rdb_last_save_time", 0) or 0)
    return {
        "server": {
            "version": info.get("redis_version"), "mode": info.get("redis_mode"), "role": info.get("role"),
            "uptime_s": info.get("uptime_in_seconds"), "target": redis_config().describe(),
            "os": info.get("os"), "maxclients": info.get("maxclients"),
        },
        "memory": {
            "used": used, "rss": info.get("used_memory_rss"), "peak": info.get("used_memory_peak"),
            "dataset": info.get("used_memory_dataset"), "lua": info.get("used_memory_lua"),
            "fragmentation_ratio": ratio, "fragmentation": fragmentation_verdict(ratio, used),
            "maxmemory": info.get("maxmemory"), "policy": info.get("maxmemory_policy"),
        },
        "persistence": {
            "rdb_last_save": last_save, "rdb_age_s": now - last_save if last_save else None,
            "rdb_changes_since_last_save": info.get("rdb_changes_since_last_save"),
            "rdb_last_bgsave_status": info.get("rdb_last_bgsave_status"),
            "rdb_bgsave_in_progress": info.get("rdb_bgsave_in_progress"),
            "aof_enabled": info.get("aof_enabled"), "aof_rewrite_in_progress": info.get("aof_rewrite_in_progress"),
            "aof_last_write_status": info.get("aof_last_write_status"),
            "aof_last_bgrewrite_status": info.get("aof_last_bgrewrite_status"),
            "latest_fork_usec": info.get("latest_fork_usec"), "loading": info.get("loading"),
        },
        "replication": {
            "role": info.get("role"), "connected_replicas": info.get("connected_slaves", 0), "replicas": replicas,
            "master": (f"{info.get('master_host')}:{info.get('master_port')}" if info.get("master_host") else None),
            "master_link_status": info.get("master_link_status"),
            "master_last_io_seconds_ago": info.get("master_last_io_seconds_ago"),
            "repl_offset": info.get("master_repl_offset"),
        },
        "config": dict(sorted(config.items())) if isinstance(config, dict) else {},
        "config_error": config_error,
        "figures": live_figures(info),
        "at": time.time(),
    }


def figures_now() -> dict[str, Any]:
    """The live figures alone (the page polls this): one ``INFO`` round trip."""
    info = get_ops_redis().info()
    return {"at": time.time(), "figures": live_figures(info)}


# --- slow log, latency, commandstats ---------------------------------------------------------------------


def _refused(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def slowlog(limit: int = 50, client: Any = None) -> dict[str, Any]:
    """``SLOWLOG GET``, ``SLOWLOG LEN`` and the two slow-log settings, in one round trip."""
    client = client or get_ops_redis()
    pipe = client.pipeline(transaction=False)
    pipe.slowlog_get(limit)
    pipe.slowlog_len()
    pipe.config_get("slowlog-*")
    entries, length, config = pipe.execute(raise_on_error=False)
    if isinstance(entries, Exception):
        return {"error": _refused(entries), "entries": [], "length": 0, "config": {}}
    rows = []
    for e in entries:
        command = e.get("command", "")
        command = command.decode("utf-8", "replace") if isinstance(command, bytes) else str(command)
        rows.append({
            "id": e.get("id"), "at": e.get("start_time"), "duration_us": e.get("duration"),
            "command": command[:PREVIEW_CHARS] + ("…" if len(command) > PREVIEW_CHARS else ""),
            "client": _text(e.get("client_address", "")), "client_name": _text(e.get("client_name", "")),
        })
    return {"entries": rows, "length": length if isinstance(length, int) else None,
            "config": config if isinstance(config, dict) else {}, "error": None}


def latency(client: Any = None) -> dict[str, Any]:
    """``LATENCY LATEST`` and ``LATENCY HISTORY`` of each event (one round trip for the histories)."""
    client = client or get_ops_redis()
    try:
        latest = client.execute_command("LATENCY", "LATEST")
        threshold = client.config_get("latency-monitor-threshold").get("latency-monitor-threshold")
    except ResponseError as exc:
        return {"error": _refused(exc), "events": [], "threshold_ms": None}
    events = [{"event": _text(row[0]), "at": int(row[1]), "latest_ms": int(row[2]), "max_ms": int(row[3])}
              for row in latest]
    if events:
        pipe = client.pipeline(transaction=False)
        for e in events:
            pipe.execute_command("LATENCY", "HISTORY", e["event"])
        for e, history in zip(events, pipe.execute(), strict=True):
            e["history"] = [{"at": int(at), "ms": int(ms)} for at, ms in history]
    return {"events": events, "threshold_ms": threshold, "error": None}


COMMANDSTATS_SORTS = {"calls": "calls", "usec_per_call": "µs per call", "usec": "total µs"}


def commandstats(sort: str = "calls", client: Any = None) -> list[dict[str, Any]]:
    """``INFO commandstats`` as rows, sorted by ``calls``, ``usec_per_call`` or ``usec`` (descending)."""
    client = client or get_ops_redis()
    stats = client.info("commandstats")
    rows = [{"command": name.removeprefix("cmdstat_").replace("|", " "), "calls": int(s.get("calls", 0)),
             "usec": int(s.get("usec", 0)), "usec_per_call": float(s.get("usec_per_call", 0)),
             "failed": int(s.get("failed_calls", 0)), "rejected": int(s.get("rejected_calls", 0))}
            for name, s in stats.items() if isinstance(s, dict)]
    key = sort if sort in COMMANDSTATS_SORTS else "calls"
    return sorted(rows, key=lambda r: r[key], reverse=True)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- keyspace browser -------------------------------------------------------------------------------------

KEY_TYPES = ["string", "hash", "list", "set", "zset", "stream"]


def escape_glob(text: str) -> str:
    """Literal text for a ``MATCH`` pattern: every glob character escaped (user text never becomes a glob)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def scan_pattern(*, family: KeyFamily | None = None, starts_with: str = "") -> str:
    """The ``MATCH`` pattern: a registry family's glob, or literal text, under the deployment's prefix."""
    prefix = _prefix()
    head = f"{escape_glob(prefix)}:" if prefix else ""
    if family is not None:
        return head + family.glob
    return head + escape_glob(starts_with) + "*"


@dataclass
class KeyRow:
    name: str
    type: str
    ttl_ms: int
    encoding: str | None
    memory: int | None
    family: str | None

    @property
    def ttl(self) -> str:
        if self.ttl_ms == -1:
            return "none"
        if self.ttl_ms < 0:
            return "gone"
        return f"{self.ttl_ms / 1000:,.1f} s"


def keyspace_page(*, cursor: int = 0, match: str = "*", type_: str | None = None,
                  size: int = 50) -> dict[str, Any]:
    """One page of keys from ``SCAN cursor MATCH ... [TYPE ...] COUNT n``, each with its facts.

    SCAN may return fewer keys than asked (or none) with a non-zero cursor
    when the pattern is sparse; up to ``SCAN_ROUNDS`` calls are made to fill
    the page, and the cursor to continue from is returned (0: the end).
    Then one pipelined round trip for every key's ``TYPE``, ``PTTL``,
    ``OBJECT ENCODING`` and ``MEMORY USAGE``.
    """
    client = get_ops_redis()
    names: list[str] = []
    rounds = 0
    while True:
        cursor, batch = client.scan(cursor=cursor, match=match, count=SCAN_COUNT, _type=type_)
        names.extend(batch)
        rounds += 1
        if cursor == 0 or len(names) >= size or rounds >= SCAN_ROUNDS:
            break
    rows = describe_keys(client, names)
    prefix = _prefix()
    for row in rows:
        fam = family_of(row.name, prefix=prefix)
        row.family = fam.pattern if fam else None
    return {"rows": rows, "cursor": int(cursor), "scan_calls": rounds, "match": match, "type": type_}


def describe_keys(client: Any, names: list[str]) -> list[KeyRow]:
    """``TYPE``, ``PTTL``, ``OBJECT ENCODING``, ``MEMORY USAGE`` of each key, pipelined (one round trip)."""
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.type(name)
        pipe.pttl(name)
        pipe.object("encoding", name)
        pipe.memory_usage(name)
    replies = pipe.execute(raise_on_error=False)
    rows = []
    for i, name in enumerate(names):
        type_, pttl, encoding, memory = replies[4 * i: 4 * i + 4]
        if type_ == "none":
            continue  # deleted or expired between SCAN and now
        rows.append(KeyRow(name=name, type=str(type_), ttl_ms=pttl if isinstance(pttl, int) else -2,
                           encoding=None if isinstance(encoding, Exception) else encoding,
                           memory=memory if isinstance(memory, int) else None, family=None))
    return rows


def _clip(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + f"… ({len(text):,} chars)"


def key_detail(name: str) -> dict[str, Any] | None:
    """One key's facts and a preview bounded by ``PREVIEW_ITEMS`` (``None`` if it does not exist).

    The preview command per type: ``GETRANGE 0 255`` (string), ``HSCAN 0
    COUNT 10`` (hash), ``LRANGE 0 9`` (list), ``SSCAN 0 COUNT 10`` (set),
    ``ZRANGE 0 9 WITHSCORES`` (zset), ``XRANGE - + COUNT 10`` (stream), each
    with its length command (``STRLEN``, ``HLEN`` ...).  ``COUNT`` is a hint:
    a small listpack-encoded hash or set comes back whole (at most 128
    entries by default), a big one in a batch of about ten.
    """
    client = get_ops_redis()
    rows = describe_keys(client, [name])
    if not rows:
        return None
    row = rows[0]
    prefix = _prefix()
    fam = family_of(name, prefix=prefix)
    row.family = fam.pattern if fam else None
    pipe = client.pipeline(transaction=False)
    n = PREVIEW_ITEMS
    if row.type == "string":
        pipe.strlen(name)
        pipe.getrange(name, 0, 255)
    elif row.type == "hash":
        pipe.hlen(name)
        pipe.hscan(name, 0, count=n)
    elif row.type == "list":
        pipe.llen(name)
        pipe.lrange(name, 0, n - 1)
    elif row.type == "set":
        pipe.scard(name)
        pipe.sscan(name, 0, count=n)
    elif row.type == "zset":
        pipe.zcard(name)
        pipe.zrange(name, 0, n - 1, withscores=True)
    elif row.type == "stream":
        pipe.xlen(name)
        pipe.xrange(name, "-", "+", count=n)
    else:
        return {"key": row, "length": None, "preview": [], "family": fam}
    length, raw = pipe.execute(raise_on_error=False)
    if isinstance(raw, Exception):
        preview: list[tuple[str, str]] = [("error", _clip(raw))]
    elif row.type == "string":
        preview = [("value", _clip(raw))]
    elif row.type in ("hash",):
        preview = [(_clip(k), _clip(v)) for k, v in list(raw[1].items())[:n]]
    elif row.type == "set":
        preview = [("", _clip(m)) for m in list(raw[1])[:n]]
    elif row.type == "list":
        preview = [(str(i), _clip(v)) for i, v in enumerate(raw)]
    elif row.type == "zset":
        preview = [(_clip(m), f"{s:g}") for m, s in raw]
    else:
        preview = [(entry_id, _clip(fields)) for entry_id, fields in raw]
    return {"key": row, "length": length if isinstance(length, int) else None, "preview": preview, "family": fam,
            "shown": len(preview)}


def family_choices() -> list[KeyFamily]:
    """Families with storage (channels are not keys), for the browser's filter."""
    return [f for f in families() if f.type != "channel"]


def scratch_result_path() -> Path:
    """Where the last "provoke a slow command" run keeps its capture (``var/ops/``)."""
    return Path(settings.VAR_DIR) / "ops" / "scratch-slowlog.json"



def last_scratch_run() -> dict[str, Any] | None:
    """The capture of the last ``ops.services.scratch_slow_commands`` run, if any."""
    try:
        return json.loads(scratch_result_path().read_text())
    except (OSError, ValueError):
        return None

