"""Command tracing counts what was really sent: commands, round trips, time."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
import redis
import redis.asyncio

from redis_patterns.tracing import AsyncTracingConnection, TracingConnection, current_trace, tracing


@pytest.fixture
def traced(redis_server):
    client = redis.Redis.from_url(redis_server.url, connection_class=TracingConnection, decode_responses=True)
    client.ping()  # connect outside any trace: handshake commands are not part of the tests below
    yield client
    client.close()


def test_one_command_is_one_round_trip(traced):
    with tracing() as trace:
        traced.set("k", "v")
        assert traced.get("k") == "v"
    assert trace.command_count == 2
    assert trace.round_trip_count == 2
    assert [rt.describe()[0]["name"] for rt in trace.round_trips] == ["SET", "GET"]
    assert trace.round_trips[1].describe()[0]["key"] == "k"
    assert trace.duration_ms > 0


def test_a_pipeline_is_one_round_trip_however_many_commands(traced):
    with tracing() as trace:
        pipe = traced.pipeline(transaction=False)
        for i in range(10):
            pipe.set(f"k{i}", i)
        pipe.execute()
    assert trace.command_count == 10
    assert trace.round_trip_count == 1
    assert trace.round_trips[0].pipelined


def test_multi_exec_is_one_round_trip_and_shows_its_brackets(traced):
    with tracing() as trace:
        traced.pipeline(transaction=True).incr("a").incr("b").execute()
    names = [row["name"] for row in trace.round_trips[0].describe()]
    # redis-py sends INCR as INCRBY 1: the trace shows what was really sent.
    assert names == ["MULTI", "INCRBY", "INCRBY", "EXEC"]
    assert trace.round_trip_count == 1


def test_script_calls_show_their_keys_not_the_sha(traced):
    with tracing() as trace:
        traced.eval("return redis.call('GET', KEYS[1])", 1, "the-key", "arg1")
    row = trace.round_trips[0].describe()[0]
    assert row["name"] == "EVAL"
    assert row["key"] == "the-key"
    assert row["args"].endswith("arg1")


def test_errors_are_recorded_on_their_round_trip(traced):
    traced.set("s", "text")
    with tracing() as trace:
        with pytest.raises(redis.ResponseError):
            traced.incr("s")
    assert trace.round_trips[0].error == "ResponseError"


def test_long_arguments_are_truncated_for_display(traced):
    with tracing() as trace:
        traced.set("big", "x" * 10_000)
    args = trace.round_trips[0].describe()[0]["args"]
    assert len(args) < 100 and args.endswith("…")


def test_nothing_is_recorded_outside_a_trace_and_after_it_closed(traced):
    assert current_trace() is None
    traced.get("k")  # no trace open: must not fail or record
    with tracing() as trace:
        traced.get("k")
    traced.get("k")
    assert trace.closed and trace.round_trip_count == 1


def test_a_connection_reused_outside_the_trace_adds_nothing_to_it(redis_server):
    # One pooled connection, first used inside a trace that stays open, then by a thread with no
    # trace (a new thread starts with an empty context): its slow read is not the trace's time.
    client = redis.Redis.from_url(redis_server.url, connection_class=TracingConnection, max_connections=1)
    client.ping()
    try:
        with tracing() as trace:
            client.get("k")
            before = trace.round_trips[0].duration_ns
            worker = threading.Thread(target=lambda: client.blpop(["tracing:nothing-here"], timeout=0.3))
            worker.start()
            worker.join()
            assert trace.round_trip_count == 1
            assert trace.round_trips[0].duration_ns == before
    finally:
        client.close()


def test_nested_traces_count_in_both(traced):
    with tracing("outer") as outer:
        traced.get("a")
        with tracing("inner") as inner:
            traced.get("b")
            traced.mget(["c", "d"])
    assert inner.command_count == 2
    assert outer.command_count == 3
    assert outer.round_trip_count == 3


def test_server_timing_header_format(traced):
    with tracing() as trace:
        traced.pipeline(transaction=False).get("a").get("b").get("c").execute()
    assert trace.server_timing().startswith("redis;dur=")
    assert trace.server_timing().endswith('desc="3 cmds, 1 rtt"')


def test_async_client_is_traced_the_same_way(redis_server):
    async def scenario():
        client = redis.asyncio.Redis.from_url(redis_server.url, connection_class=AsyncTracingConnection,
                                              decode_responses=True)
        await client.ping()
        with tracing() as trace:
            await client.set("k", "v")
            await client.pipeline(transaction=False).get("k").get("k").execute()
        await client.aclose()
        return trace

    trace = asyncio.run(scenario())
    assert trace.command_count == 3
    assert trace.round_trip_count == 2


def test_an_async_connection_reused_by_an_untraced_task_adds_nothing_to_the_trace(redis_server):
    async def scenario():
        client = redis.asyncio.Redis.from_url(redis_server.url, connection_class=AsyncTracingConnection,
                                              max_connections=1)
        await client.ping()
        with tracing() as trace:
            await client.get("k")
            before = trace.round_trips[0].duration_ns
            # a task started in an empty context shares the one connection while the trace is open
            untraced = contextvars.Context()
            await asyncio.get_running_loop().create_task(
                client.blpop(["tracing:nothing-here"], timeout=0.3), context=untraced)
            after = trace.round_trips[0].duration_ns, trace.round_trip_count
        await client.aclose()
        return before, after

    before, (after, count) = asyncio.run(scenario())
    assert count == 1
    assert after == before


def test_a_task_that_outlives_the_trace_stops_recording(redis_server):
    """asyncio tasks copy the context: a background loop started inside a
    trace must not keep appending to it after the message is done."""

    async def scenario():
        client = redis.asyncio.Redis.from_url(redis_server.url, connection_class=AsyncTracingConnection)
        await client.ping()
        started = asyncio.Event()
        release = asyncio.Event()

        async def background():
            started.set()
            await release.wait()
            await client.get("later")

        with tracing() as trace:
            task = asyncio.create_task(background())
            await started.wait()
        release.set()
        await task
        await client.aclose()
        return trace

    trace = asyncio.run(scenario())
    assert trace.round_trip_count == 0


def test_the_panel_escapes_every_field_and_describes_scripts_keys_apart(traced):
    """What a client chose (a key, an argument) reaches the page escaped: a key named like markup cannot
    become markup.  Script calls show their keys apart from the sha and the arguments."""
    from config.middleware import render_panel

    hostile = """<script>alert('x')</script>&"k"""
    with tracing() as trace:
        traced.set(hostile, "<b>v</b>")
        traced.eval("return 1", 2, "a<", "b&", "arg'")
    html = render_panel(trace)
    assert "<script>" not in html and "<b>v</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;k" in html
    assert "&lt;b&gt;v&lt;/b&gt;" in html
    row = trace.round_trips[1].describe()[0]
    assert (row["name"], row["key"], row["args"]) == ("EVAL", "a< b&", "return 1 arg'")
    assert html.count("<tr") == 1 + 2  # the header row, then one row per command
