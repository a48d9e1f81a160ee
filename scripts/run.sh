#!/usr/bin/env bash
# `make run`: migrate, load demo data, make sure a Redis is there, start everything.
#
# Redis: REDIS_URL if set; otherwise a project-local redis-server from PATH on
# DEV_REDIS_PORT (default 6390) with its data, log and pid under var/redis/,
# started here, stopped cleanly (SHUTDOWN, so its AOF is complete) when you press
# Ctrl-C, and loaded again from var/redis/ by the next `make run`.
# That server runs with an ACL file (var/redis/users.acl, from `manage.py redis_acl
# local`): the app connects as the least-privileged user "app", people and labs use
# "admin", the default user is off. Passwords are generated into var/redis/*.password
# at first run (or taken from REDIS_APP_PASSWORD / REDIS_ADMIN_PASSWORD).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG="${DEBUG:-1}"
export WEB_HOST="${WEB_HOST:-127.0.0.1}" WEB_PORT="${WEB_PORT:-8000}"
mkdir -p var

# 0: a Redis with ACLs answers (NOAUTH); 2: a Redis without them (PONG); 1: nothing.
redis_ping() { "$BIN/python" - "$1" <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5) as s:
        s.sendall(b"PING\r\n"); reply = s.recv(64)
    status = 0 if reply.startswith(b"-NOAUTH") else 2 if reply.startswith(b"+PONG") else 1
except OSError:
    status = 1
sys.exit(status)
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
  mkdir -p var/redis
  ACL_FILE="$PWD/$("$BIN/python" manage.py redis_acl local --dir var/redis)"
  ping_status=0; redis_ping "$DEV_REDIS_PORT" || ping_status=$?
  if [ "$ping_status" = 2 ]; then
    echo "The redis-server on port $DEV_REDIS_PORT runs without the ACL file (started by an older make run)." >&2
    echo "Stop it (redis-cli -p $DEV_REDIS_PORT shutdown; its data stays in var/redis/) and run make run again." >&2
    exit 1
  elif [ "$ping_status" = 0 ]; then
    echo "reusing the redis-server already on port $DEV_REDIS_PORT (reloading var/redis/users.acl)"
    "$BIN/python" -c "import redis, sys; redis.Redis(port=int(sys.argv[1]), username='admin',
        password=open('var/redis/admin.password').read().strip()).acl_load()" "$DEV_REDIS_PORT"
  else
    "$SERVER_BIN" --port "$DEV_REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/var/redis" \
      --logfile "$PWD/var/redis/redis.log" --pidfile "$PWD/var/redis/redis.pid" --daemonize yes \
      --aclfile "$ACL_FILE" --appendonly yes --appendfsync everysec --save "3600 1 300 100" >/dev/null
    for _ in $(seq 50); do redis_ping "$DEV_REDIS_PORT" && break; sleep 0.1; done
    redis_ping "$DEV_REDIS_PORT" || { echo "redis-server did not start; see var/redis/redis.log" >&2; exit 1; }
    STARTED_REDIS=1
    echo "started a local redis-server on port $DEV_REDIS_PORT (data in var/redis/, users in var/redis/users.acl)"
  fi
  trap stop_redis EXIT
  # Every process (web, workers, Celery, the channel layer) connects as the app user.
  export REDIS_URL="redis://app:$(cat var/redis/app.password)@127.0.0.1:$DEV_REDIS_PORT/0"
  REDIS_SHOWN="redis://127.0.0.1:$DEV_REDIS_PORT/0 as user app (as admin: see README, \"Redis users\")"
fi

"$BIN/python" manage.py migrate --noinput -v0
# Demo data: every app that has a seed command contributes (idempotent).
for cmd in $("$BIN/python" manage.py help --commands | grep -E '^seed_' || true); do
  "$BIN/python" manage.py "$cmd"
done

echo
echo "  Site:     http://$WEB_HOST:$WEB_PORT/"
echo "  Health:   http://$WEB_HOST:$WEB_PORT/healthz"
echo "  Redis:    ${REDIS_SHOWN:-$(printf %s "$REDIS_URL" | sed -E 's#//[^/@]*@#//#')}"
echo "  Ctrl-C stops everything started here."
echo
status=0
"$BIN/honcho" start -f Procfile || status=$?
# Ctrl-C is how you stop it: not an error.
if [ "$status" = 130 ]; then status=0; fi
exit "$status"
