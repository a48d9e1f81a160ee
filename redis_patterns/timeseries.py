"""A counter time series two ways with one interface: RedisTimeSeries's ``TS.*``, or hashes per day.

The question: how many events (orders) per minute, for the last hours, and
per hour for the last weeks?  Both implementations count into minute
buckets and keep a downsampled hourly series for longer.

- ``ModuleSeries`` (RedisTimeSeries): ``TS.CREATE raw RETENTION 8d
  DUPLICATE_POLICY SUM``, ``TS.CREATE hourly RETENTION 90d``, and
  ``TS.CREATERULE raw hourly AGGREGATION sum 3600000``: the server
  downsamples each closed hour into ``hourly`` by itself.  An event is
  ``TS.ADD raw <minute start> 1 ON_DUPLICATE SUM`` (one sample per minute);
  reading is ``TS.RANGE`` (the open hour is aggregated from ``raw`` on the fly
  with ``AGGREGATION sum 3600000``).
- ``CoreSeries`` (core Redis): one hash per day for minutes
  (field = minute of the day) and one for hours (field = hour), each
  ``HINCRBY`` + ``EXPIREAT`` (retention 8 and 90 days after the day ends);
  downsampling happens at write time (both hashes are incremented).
  Reading is ``HMGET``/``HGETALL`` of the days in range, one pipeline.

Round trips
    add: 0 of its own (queued on the caller's pipeline) or 1 · range: 1 (the
    module path creates its series and rule once per process: 1 more).

Failure policy
    Redis errors propagate; the caller decides (the shop logs and moves on:
    a chart is not worth failing an order for).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from redis.exceptions import ResponseError

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
RAW_RETENTION = dt.timedelta(days=8)
HOURLY_RETENTION = dt.timedelta(days=90)


def _floor(ts_ms: int, bucket_ms: int) -> int:
    return ts_ms - ts_ms % bucket_ms


def fill(points: dict[int, int], start_ms: int, end_ms: int, bucket_ms: int) -> list[tuple[int, int]]:
    """Every bucket from ``start_ms`` to ``end_ms`` (inclusive), zero where nothing was counted."""
    first = _floor(start_ms, bucket_ms)
    return [(t, int(points.get(t, 0))) for t in range(first, _floor(end_ms, bucket_ms) + 1, bucket_ms)]


class Series(Protocol):
    kind: str

    def add(self, ts_ms: int, value: int = 1, *, pipe: Any = None) -> None: ...
    def range(self, start_ms: int, end_ms: int, bucket_ms: int = MINUTE_MS) -> list[tuple[int, int]]: ...


class CoreSeries:
    """Minute and hour buckets in hashes, one per UTC day (see the module docstring)."""

    kind = "core"

    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    def _keys(self, day: dt.date) -> tuple[str, str]:
        return f"{self.prefix}:m:{day.isoformat()}", f"{self.prefix}:h:{day.isoformat()}"

    def add(self, ts_ms: int, value: int = 1, *, pipe: Any = None) -> None:
        """Count ``value`` at ``ts_ms`` (queued on ``pipe`` if given, else sent now)."""
        moment = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC)
        day = moment.date()
        minutes, hours = self._keys(day)
        day_end = int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp())
        target = pipe if pipe is not None else self.client.pipeline(transaction=True)
        target.hincrby(minutes, str(moment.hour * 60 + moment.minute), value)
        target.expireat(minutes, day_end + int(RAW_RETENTION.total_seconds()))
        target.hincrby(hours, str(moment.hour), value)
        target.expireat(hours, day_end + int(HOURLY_RETENTION.total_seconds()))
        if pipe is None:
            target.execute()

    def range(self, start_ms: int, end_ms: int, bucket_ms: int = MINUTE_MS) -> list[tuple[int, int]]:
        if bucket_ms not in (MINUTE_MS, HOUR_MS):
            raise ValueError("bucket_ms: one minute or one hour")
        first = dt.datetime.fromtimestamp(start_ms / 1000, tz=dt.UTC).date()
        last = dt.datetime.fromtimestamp(end_ms / 1000, tz=dt.UTC).date()
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        pipe = self.client.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self._keys(day)[0 if bucket_ms == MINUTE_MS else 1])
        points: dict[int, int] = {}
        for day, fields in zip(days, pipe.execute(), strict=True):
            midnight = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
            for field, count in fields.items():
                points[midnight + int(field) * bucket_ms] = int(count)
        return fill(points, start_ms, end_ms, bucket_ms)


class ModuleSeries:
    """RedisTimeSeries: a raw per-minute series and an hourly compaction (see the module docstring)."""

    kind = "module"

    def __init__(self, client: Any, raw: str, hourly: str, *, labels: dict[str, str] | None = None) -> None:
        self.client, self.raw, self.hourly = client, raw, hourly
        self.labels = labels or {}
        self._created = False

    def ensure(self) -> None:
        """Create both series and the compaction rule (once per process; "already exists" is fine)."""
        if self._created:
            return
        labels = [x for kv in self.labels.items() for x in kv]
        for key, retention in ((self.raw, RAW_RETENTION), (self.hourly, HOURLY_RETENTION)):
            try:
                self.client.execute_command("TS.CREATE", key, "RETENTION", int(retention.total_seconds() * 1000),
                                            "DUPLICATE_POLICY", "SUM", *(["LABELS", *labels] if labels else []))
            except ResponseError as exc:
                if "already exists" not in str(exc).lower():
                    raise
        try:
            self.client.execute_command("TS.CREATERULE", self.raw, self.hourly, "AGGREGATION", "sum", HOUR_MS)
        except ResponseError as exc:
            if "already" not in str(exc).lower():
                raise
        self._created = True

    def add(self, ts_ms: int, value: int = 1, *, pipe: Any = None) -> None:
        self.ensure()
        target = pipe if pipe is not None else self.client
        target.execute_command("TS.ADD", self.raw, _floor(ts_ms, MINUTE_MS), value, "ON_DUPLICATE", "SUM")

    def range(self, start_ms: int, end_ms: int, bucket_ms: int = MINUTE_MS) -> list[tuple[int, int]]:
        if bucket_ms not in (MINUTE_MS, HOUR_MS):
            raise ValueError("bucket_ms: one minute or one hour")
        self.ensure()
        pipe = self.client.pipeline(transaction=False)
        if bucket_ms == MINUTE_MS:
            pipe.execute_command("TS.RANGE", self.raw, start_ms, end_ms)
        else:
            # Closed hours from the compacted series; the open hour aggregated from raw.
            open_hour = _floor(end_ms, HOUR_MS)
            pipe.execute_command("TS.RANGE", self.hourly, start_ms, end_ms)
            pipe.execute_command("TS.RANGE", self.raw, open_hour, end_ms, "AGGREGATION", "sum", HOUR_MS)
        points: dict[int, int] = {}
        for reply in pipe.execute():
            for ts, value in reply:
                points[_floor(int(ts), bucket_ms)] = points.get(_floor(int(ts), bucket_ms), 0) + int(float(value))
        return fill(points, start_ms, end_ms, bucket_ms)
