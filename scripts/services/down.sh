#!/usr/bin/env bash
# Stop the test services started by up.sh. Data stays in /tmp/trellis-services
# (delete that directory for a clean slate). Safe to run when nothing is running.
set -uo pipefail

DIR="${TRELLIS_SERVICES_DIR:-/tmp/trellis-services}"
status=0

# Stops the process a pid file names: TERM, up to `wait` seconds, then KILL.
stop_pidfile() { # name pidfile wait
  local name=$1 pidfile=$2 wait=$3 pid
  if [[ -f "$pidfile" ]] && pid="$(cat "$pidfile")" && kill -0 "$pid" 2>/dev/null; then
    echo "[$name] stopping pid $pid"
    kill -TERM "$pid"
    for _ in $(seq 1 $((wait * 2))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "[$name] still alive after ${wait}s; killing"
      kill -KILL "$pid"
    fi
  else
    echo "[$name] not running"
  fi
  rm -f "$pidfile"
}

stop_pidfile kafka "$DIR/kafka/kafka.pid" 30

# Redis
if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 56379 ping >/dev/null 2>&1; then
  echo "[redis] stopping"
  redis-cli -h 127.0.0.1 -p 56379 shutdown nosave >/dev/null 2>&1 || true
else
  echo "[redis] not running"
fi

# Postgres
pgdata="$DIR/postgres/data"
pgctl="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pg_ctl' 2>/dev/null | sort -V | tail -n 1)"
if [[ -n "$pgctl" && -f "$pgdata/postmaster.pid" ]]; then
  echo "[postgres] stopping"
  runuser -u postgres -- "$pgctl" -D "$pgdata" -m fast -w stop >/dev/null || status=1
else
  echo "[postgres] not running"
fi

bash "$(dirname "${BASH_SOURCE[0]}")/schema-registry.sh" stop || status=1

# The warehouse emulators (python processes).
stop_pidfile fakesnow "$DIR/fakesnow/fakesnow.pid" 10
stop_pidfile bigquery "$DIR/bigquery/emulator.pid" 10

exit $status
