"""Event streams on a 3-node Redis Cluster: a batch of events for audiences on different nodes."""

from __future__ import annotations

import pytest

from config.redis import reset_clients

pytestmark = [pytest.mark.slow]


def test_publish_events_spreads_a_batch_over_the_nodes_each_stream_in_order(redis_server_factory, settings):
    nodes = redis_server_factory.cluster(3)
    settings.REDIS = {**settings.REDIS, "cluster_nodes": [(n.host, n.port) for n in nodes]}
    reset_clients()
    try:
        from config.redis import get_redis
        from realtime import keys, services

        client = get_redis()
        audiences = [f"user:{i}" for i in range(12)]
        streams = {a: keys.events_stream(a) for a in audiences}
        slots = {client.keyslot(s) for s in streams.values()}
        owners = {client.nodes_manager.get_node_from_slot(slot).port for slot in slots}
        assert len(owners) == 3  # the batch really crosses the three nodes
        batch = [(a, "order.status", {"order_id": i, "status": s})
                 for i, a in enumerate(audiences) for s in ("processing", "completed")]
        ids = services.publish_events(batch)
        assert all(isinstance(i, str) for i in ids)
        for audience, stream in streams.items():
            stored = client.xrange(stream)
            assert [entry_id for entry_id, _ in stored] == [ids[i] for i, (a, _, _) in enumerate(batch)
                                                            if a == audience]
            assert [f["data"] for _, f in stored] == [f'{{"order_id":{audiences.index(audience)},"status":"{s}"}}'
                                                      for s in ("processing", "completed")]
    finally:
        settings.REDIS = {**settings.REDIS, "cluster_nodes": []}
        reset_clients()
