#!/usr/bin/env bash
# `make run`: migrate, load demo data, make sure a Redis is there, start everything.
#
# Redis: REDIS_URL if set; otherwise a project-local redis-server from PATH on
# DEV_REDIS_PORT (default 6390) with its data, log and pid under var/redis/,
# started here, stopped cleanly (SHUTDOWN, so its AOF is complete) when you press
# Ctrl-C, and loaded again from var/redis/ by the next `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG="${DEBUG:-1}"
export WEB_HOST="${WEB_HOST:-127.0.0.1}" WEB_PORT="${WEB_PORT:-8000}"
mkdir -p var

redis_ping() { "$BIN/python" - "$1" <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5) as s:
        s.sendall(b"PING\r\n"); ok = s.recv(16).startswith(b"+PONG")
except OSError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

STARTED_REDIS=""
stop_redis() {
  if [ -n "$STARTED_REDIS" ] && [ -f var/redis/redis.pid ]; then
    echo "stopping the local redis-server (port $DEV_REDIS_PORT)..."
    kill -TERM "$(cat var/redis/redis.pid)" 2>/dev/null || true
  fi
}

if [ -z "${REDIS_URL:-}" ]; then
  SERVER_BIN="${REDIS_SERVER_BIN:-redis-server}"
  DEV_REDIS_PORT="${DEV_REDIS_PORT:-6390}"
  if ! command -v "$SERVER_BIN" >/dev/null 2>&1; then
    echo "No Redis found. Install one (apt-get install redis-server, or brew install redis)," >&2
    echo "or start one with 'docker compose up redis' and set REDIS_URL=redis://127.0.0.1:6379/0." >&2
    exit 1
  fi
  if redis_ping "$DEV_REDIS_PORT"; then
    echo "reusing the redis-server already on port $DEV_REDIS_PORT"
  else
    mkdir -p var/redis
    "$SERVER_BIN" --port "$DEV_REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/var/redis" \
      --logfile "$PWD/var/redis/redis.log" --pidfile "$PWD/var/redis/redis.pid" --daemonize yes \
      --appendonly yes --appendfsync everysec --save "3600 1 300 100" >/dev/null
    for _ in $(seq 50); do redis_ping "$DEV_REDIS_PORT" && break; sleep 0.1; done
    redis_ping "$DEV_REDIS_PORT" || { echo "redis-server did not start; see var/redis/redis.log" >&2; exit 1; }
    STARTED_REDIS=1
    echo "started a local redis-server on port $DEV_REDIS_PORT (data in var/redis/)"
  fi
  trap stop_redis EXIT
  export REDIS_URL="redis://127.0.0.1:$DEV_REDIS_PORT/0"
fi

"$BIN/python" manage.py migrate --noinput -v0
# Demo data: every app that has a seed command contributes (idempotent).
for cmd in $("$BIN/python" manage.py help --commands | grep -E '^seed_' || true); do
  "$BIN/python" manage.py "$cmd"
done

# Prometheus multiprocess mode (ops/metrics.py): every process writes its counters to files here and
# /metrics merges them; start each run from zero, as Prometheus expects of a restarted target.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db

echo
echo "  Site:     http://$WEB_HOST:$WEB_PORT/"
echo "  Health:   http://$WEB_HOST:$WEB_PORT/healthz   Metrics: http://$WEB_HOST:$WEB_PORT/metrics"
echo "  Redis:    $REDIS_URL"
"$BIN/python" -c "from sessions_app.demo_accounts import banner; print(banner())" | grep . || true
echo "  Ctrl-C stops everything started here."
echo
status=0
"$BIN/honcho" start -f Procfile || status=$?
# Ctrl-C is how you stop it: not an error.
if [ "$status" = 130 ]; then status=0; fi
exit "$status"
