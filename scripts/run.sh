#!/usr/bin/env bash
# `make run`: migrate, load demo data, make sure a Redis is there, start everything.
#
# Redis: REDIS_URL if set; otherwise a project-local redis-server from PATH on
# DEV_REDIS_PORT (default 6390) with its data, log and pid under var/redis/,
# started here, stopped cleanly (SHUTDOWN, so its AOF is complete) when you press
# Ctrl-C, and loaded again from var/redis/ by the next `make run`.
#
# The settings it chooses are written to $VAR_DIR/run.env (var/run.env), which
# manage.py and the celery command read for anything the environment does not
# set: commands typed in a second terminal reach the same Redis and database.
#
# Logs: warnings and errors only (the periodic tasks log every few seconds at
# INFO); LOG_LEVEL=INFO make run shows everything.
#
# That server runs with an ACL file (var/redis/users.acl, from `manage.py redis_acl
# local`): the app connects as the least-privileged user "app", people and labs use
# "admin", the default user is off. Passwords are generated into var/redis/*.password
# at first run (or taken from REDIS_APP_PASSWORD / REDIS_ADMIN_PASSWORD).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG="${DEBUG:-1}"
export WEB_HOST="${WEB_HOST:-127.0.0.1}" WEB_PORT="${WEB_PORT:-8000}"
export VAR_DIR="${VAR_DIR:-$PWD/var}"
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"
# The Procfile's uvicorn and celery take the level in lower case.
PROC_LOG_LEVEL="$(printf '%s' "$LOG_LEVEL" | tr '[:upper:]' '[:lower:]')"
export PROC_LOG_LEVEL
mkdir -p "$VAR_DIR"

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
WAITER=""
stop_redis() {
  if [ -n "$STARTED_REDIS" ] && [ -f "$VAR_DIR/redis/redis.pid" ]; then
    echo "stopping the local redis-server (port $DEV_REDIS_PORT)..."
    kill -TERM "$(cat "$VAR_DIR/redis/redis.pid")" 2>/dev/null || true
  fi
}
cleanup() {
  if [ -n "$WAITER" ]; then kill "$WAITER" 2>/dev/null || true; fi
  stop_redis
}

if [ -z "${REDIS_URL:-}" ]; then
  SERVER_BIN="${REDIS_SERVER_BIN:-redis-server}"
  DEV_REDIS_PORT="${DEV_REDIS_PORT:-6390}"
  if ! command -v "$SERVER_BIN" >/dev/null 2>&1; then
    echo "No Redis found. Install one (apt-get install redis-server, or brew install redis)," >&2
    echo "or start one with 'docker compose up redis' and set REDIS_URL=redis://127.0.0.1:6379/0." >&2
    exit 1
  fi
  mkdir -p "$VAR_DIR/redis"
  # (settings want a REDIS_URL to load; the one this run is about to start)
  ACL_FILE="$(REDIS_URL="redis://127.0.0.1:$DEV_REDIS_PORT/0" "$BIN/python" manage.py redis_acl local --dir "$VAR_DIR/redis")"
  ping_status=0; redis_ping "$DEV_REDIS_PORT" || ping_status=$?
  if [ "$ping_status" = 2 ]; then
    echo "The redis-server on port $DEV_REDIS_PORT runs without the ACL file (started by an older make run)." >&2
    echo "Stop it (redis-cli -p $DEV_REDIS_PORT shutdown; its data stays in $VAR_DIR/redis/) and run make run again." >&2
    exit 1
  elif [ "$ping_status" = 0 ]; then
    echo "reusing the redis-server already on port $DEV_REDIS_PORT (reloading $VAR_DIR/redis/users.acl)"
    "$BIN/python" -c "import redis, sys; redis.Redis(port=int(sys.argv[1]), username='admin',
        password=open(sys.argv[2]).read().strip()).acl_load()" "$DEV_REDIS_PORT" "$VAR_DIR/redis/admin.password"
  else
    "$SERVER_BIN" --port "$DEV_REDIS_PORT" --bind 127.0.0.1 --dir "$VAR_DIR/redis" \
      --logfile "$VAR_DIR/redis/redis.log" --pidfile "$VAR_DIR/redis/redis.pid" --daemonize yes \
      --aclfile "$ACL_FILE" --appendonly yes --appendfsync everysec --save "3600 1 300 100" >/dev/null
    for _ in $(seq 50); do redis_ping "$DEV_REDIS_PORT" && break; sleep 0.1; done
    redis_ping "$DEV_REDIS_PORT" || { echo "redis-server did not start; see $VAR_DIR/redis/redis.log" >&2; exit 1; }
    STARTED_REDIS=1
    echo "started a local redis-server on port $DEV_REDIS_PORT (data in $VAR_DIR/redis/, users in users.acl there)"
  fi
  # Every process (web, workers, Celery, the channel layer) connects as the app user.
  export REDIS_URL="redis://app:$(cat "$VAR_DIR/redis/app.password")@127.0.0.1:$DEV_REDIS_PORT/0"
  # The staff ops pages read SLOWLOG, LATENCY and CONFIG GET as the admin user (config.redis.get_ops_redis).
  export REDIS_OPS_USERNAME=admin REDIS_OPS_PASSWORD="$(cat "$VAR_DIR/redis/admin.password")"
  REDIS_SHOWN="redis://127.0.0.1:$DEV_REDIS_PORT/0 as user app (as admin: see README, \"Redis users\")"
fi
trap cleanup EXIT

# What this run chose, for commands typed in a second terminal (manage.py reads it; config/env.py).
# Only variables that are set; mode 600, because a URL may carry a password.
write_run_env() {
  local file="$VAR_DIR/run.env" name
  umask 077
  {
    echo "# Written by 'make run' (scripts/run.sh) on $(date -u +%Y-%m-%dT%H:%M:%SZ). manage.py and the celery"
    echo "# command read it for every variable the environment does not set. Do not edit: the next run rewrites it."
    for name in DEBUG SECRET_KEY VAR_DIR DATABASE_URL REDIS_URL REDIS_SENTINELS REDIS_SENTINEL_MASTER \
                REDIS_CLUSTER_NODES REDIS_USERNAME REDIS_PASSWORD REDIS_OPS_USERNAME REDIS_OPS_PASSWORD \
                REDIS_KEY_PREFIX CHANNEL_REDIS_URL \
                CELERY_BROKER_URL ALLOWED_HOSTS CSRF_TRUSTED_ORIGINS WEB_HOST WEB_PORT; do
      if [ -n "${!name:-}" ]; then printf '%s=%s\n' "$name" "${!name}"; fi
    done
  } > "$file.tmp"
  mv "$file.tmp" "$file"
}
write_run_env

"$BIN/python" manage.py migrate --noinput -v0
# Demo data: every app that has a seed command contributes (idempotent).
for cmd in $("$BIN/python" manage.py help --commands | grep -E '^seed_' || true); do
  "$BIN/python" manage.py "$cmd"
done

# Prometheus multiprocess mode (ops/metrics.py): every process writes its counters to files here and
# /metrics merges them; start each run from zero, as Prometheus expects of a restarted target.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db

banner() {
  echo
  echo "  Site:     http://$WEB_HOST:$WEB_PORT/"
  echo "  Health:   http://$WEB_HOST:$WEB_PORT/healthz   Metrics: http://$WEB_HOST:$WEB_PORT/metrics"
  echo "  Redis:    ${REDIS_SHOWN:-$(printf '%s' "$REDIS_URL" | sed -E 's#//[^@/]*@#//#')}"  # no password
  "$BIN/python" -c "from sessions_app.demo_accounts import banner; print(banner())" | grep . || true
  echo "  Commands in another terminal use the same settings ($VAR_DIR/run.env), e.g."
  echo "    .venv/bin/python manage.py publish_event public broadcast '{\"message\": \"hi\"}'"
  echo "  Logs: warnings only (LOG_LEVEL=INFO make run for everything). Ctrl-C stops everything started here."
  echo
}
banner
# Once the site answers and the Celery worker replies to a ping, say so again: the processes'
# start-up lines have pushed the URL off screen.
"$BIN/python" - "$WEB_HOST" "$WEB_PORT" "$BIN/celery" <<'PY' &
import subprocess, sys, time, urllib.request
host, port, celery = sys.argv[1:4]
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as r:  # our own loopback URL
            if r.status == 200:
                break
    except OSError:
        pass
    time.sleep(0.5)
else:
    sys.exit(0)
note = ""
for _ in range(10):
    ping = subprocess.run([celery, "-A", "config", "inspect", "ping", "--timeout", "3"],
                          capture_output=True, text=True)
    if ping.returncode == 0:
        break
else:
    note = " (the Celery worker has not answered yet)"
print(f"\n  Ready: http://{host}:{port}/  (Ctrl-C stops everything){note}\n", flush=True)
PY
WAITER=$!
status=0
"$BIN/honcho" start -f Procfile || status=$?
# Ctrl-C is how you stop it: not an error.
if [ "$status" = 130 ]; then status=0; fi
exit "$status"
