"""The stream-worker side of ``bench/peers.py`` section 5: the same two jobs as ``bench/peers_tasks.py``.

    python -m bench.peers_stream <stream> <group> <consumer>   # started by the benchmark itself

A ``StreamWorker`` (``redis_patterns.streams``) whose handler does what the
Celery tasks do: ``record`` notes when it ran in ``PEERS_DONE_KEY``; ``slow``
works two seconds.  Entries pending longer than 3 s are claimed by another
consumer (``claim_idle_ms``), so a killed worker's entry comes back within
seconds.
"""

from __future__ import annotations

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from config.redis import build_client, get_redis  # noqa: E402
from redis_patterns.streams import Message, StreamWorker, WorkerConfig  # noqa: E402


def handle(msg: Message) -> None:
    client = get_redis()
    if msg.fields.get("job") == "slow":
        client.set("bench:{peers}:sslow-started", "1", ex=60)
        time.sleep(2)
        client.incr("bench:{peers}:sslow")
        return
    client.hset(os.environ["PEERS_DONE_KEY"], msg.fields["id"], repr(time.time()))


def main() -> None:
    stream, group, consumer = sys.argv[1:4]
    config = WorkerConfig(stream=stream, group=group, consumer=consumer, dead_letter=stream + ":dead",
                          count=100, block_ms=200, claim_idle_ms=3000, claim_every_s=0.5, trim_every_s=0)
    worker = StreamWorker(build_client(socket_timeout=10), config, handle)
    worker.install_signal_handlers()
    worker.run()


if __name__ == "__main__":
    main()
