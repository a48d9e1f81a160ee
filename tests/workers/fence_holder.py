"""A lock holder in its own process, for the fencing test.

    python -m tests.workers.fence_holder NAME TTL_MS WRITER RESOURCE

Sets up Django (the database comes from ``DATABASE_URL``), acquires the lock
``NAME`` and prints ``{"fence": n}``.  Then obeys lines on stdin: ``write``
(a fenced write of ``{"by": WRITER}``; prints ``{"accepted": bool}``) and
``release`` (prints ``{"released": bool}`` and exits).  It never checks
whether its lease is still valid before writing: a pause can strike right
after such a check anyway, which is the point of the fence.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    name, ttl_ms, writer, resource = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from workers import locks

    lock = locks.job_lock(name, ttl_ms=ttl_ms)
    lease = lock.acquire(timeout=30)
    if lease is None:
        print(json.dumps({"error": "not acquired"}), flush=True)
        sys.exit(1)
    print(json.dumps({"fence": lease.fence}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "write":
            ok = locks.fenced_write(resource=resource, value={"by": writer}, fence=lease.fence, writer=writer)
            print(json.dumps({"accepted": ok}), flush=True)
        elif command == "release":
            print(json.dumps({"released": lock.release(lease)}), flush=True)
            return


if __name__ == "__main__":
    main()
