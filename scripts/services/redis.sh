#!/usr/bin/env bash
# Start a throwaway Redis on 127.0.0.1:56379 for tests (no persistence, no password).
# Idempotent: exits 0 at once when the server already answers PING on its port.
set -euo pipefail

SERVICE=redis
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT=56379
DIR="$TRELLIS_SERVICES_DIR/redis"
LOGFILE="$DIR/redis.log"
START_TIMEOUT="${TRELLIS_REDIS_START_TIMEOUT:-30}"
start=$SECONDS

healthy() {
  command -v redis-cli >/dev/null &&
    [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == PONG ]]
}

if healthy; then
  log "already running on 127.0.0.1:$PORT"
  exit 0
fi

take_lock
if healthy; then
  log "already running on 127.0.0.1:$PORT (started by a concurrent run)"
  exit 0
fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt_install redis-server redis-tools
fi

mkdir -p "$DIR"
log "starting server (log: $LOGFILE)"
# daemonize detaches the server from this shell and the test run that started it;
# 9>&-: it must not inherit our lock, or the next start would wait on it forever.
if ! redis-server --port "$PORT" --bind 127.0.0.1 --protected-mode no \
  --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$LOGFILE" --dir "$DIR" \
  --save "" --appendonly no \
  </dev/null >"$DIR/start.log" 2>&1 9>&-; then
  cat "$DIR/start.log" >&2
  show_log_tail "$LOGFILE"
  die "redis-server failed to start"
fi

if ! wait_until "$START_TIMEOUT" healthy; then
  show_log_tail "$LOGFILE"
  die "server not answering PING on 127.0.0.1:$PORT after ${START_TIMEOUT}s (is the port taken?)"
fi

version="$(redis-cli -h 127.0.0.1 -p "$PORT" info server | sed -n 's/^redis_version:\(.*\)\r$/\1/p')"
log "running Redis $version on 127.0.0.1:$PORT (ready after $((SECONDS - start))s)"
