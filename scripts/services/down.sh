#!/usr/bin/env bash
# Stop the test services started by up.sh. Data stays in /tmp/trellis-services
# (delete that directory for a clean slate). Safe to run when nothing is running.
set -uo pipefail

DIR="${TRELLIS_SERVICES_DIR:-/tmp/trellis-services}"
status=0

# Kafka
pidfile="$DIR/kafka/kafka.pid"
if [[ -f "$pidfile" ]] && pid="$(cat "$pidfile")" && kill -0 "$pid" 2>/dev/null; then
  echo "[kafka] stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "[kafka] still alive after 30s; killing"
    kill -KILL "$pid"
  fi
  rm -f "$pidfile"
else
  echo "[kafka] not running"
fi

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

exit $status
