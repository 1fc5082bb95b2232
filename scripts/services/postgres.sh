#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1:55432 for tests
# (superuser `postgres`, trust auth on loopback; password `trellis` is set too).
# Idempotent: exits 0 at once when the server already accepts queries on its port.
set -euo pipefail

SERVICE=postgres
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT=55432
DIR="$TRELLIS_SERVICES_DIR/postgres"
PGDATA="$DIR/data"
LOGFILE="$DIR/postgres.log"
START_TIMEOUT="${TRELLIS_PG_START_TIMEOUT:-90}"
start=$SECONDS

pg_bindir() {
  # Debian keeps the server binaries out of PATH, one directory per major version.
  local d
  d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$d" && -x "$d/pg_ctl" ]] && echo "$d"
}

healthy() {
  command -v psql >/dev/null &&
    PGCONNECT_TIMEOUT=3 psql -X -q -w -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1
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

if ! BIN="$(pg_bindir)" || ! command -v psql >/dev/null; then
  apt_install postgresql
  BIN="$(pg_bindir)" || die "postgresql installed but no pg_ctl under /usr/lib/postgresql/*/bin"
fi

id postgres >/dev/null 2>&1 || die "no 'postgres' system user (the postgresql package creates it)"
# PostgreSQL refuses to run as root: everything below runs as the postgres user.
as_pg() { runuser -u postgres -- "$@"; }

mkdir -p "$DIR"
chown postgres:postgres "$DIR"

if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
  log "initialising a new cluster in $PGDATA"
  rm -rf "$PGDATA"
  pwfile="$(mktemp)"
  echo trellis >"$pwfile"
  chown postgres "$pwfile"
  if ! as_pg "$BIN/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"
    show_log_tail "$DIR/initdb.log"
    die "initdb failed"
  fi
  rm -f "$pwfile"
  # A disposable test cluster: durability buys nothing here, and speed does.
  cat >>"$PGDATA/postgresql.conf" <<EOF

# --- trellis test settings ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

if as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  log "server process is up but not answering yet; waiting"
else
  log "starting server (log: $LOGFILE)"
  touch "$LOGFILE" && chown postgres:postgres "$LOGFILE"
  # setsid: the server must outlive the shell and test run that started it.
  # 9>&-: it must not inherit our lock, or the next start would wait on it forever.
  if ! setsid -w runuser -u postgres -- "$BIN/pg_ctl" -D "$PGDATA" -l "$LOGFILE" \
    -w -t "$START_TIMEOUT" start >"$DIR/pg_ctl.log" 2>&1 </dev/null 9>&-; then
    cat "$DIR/pg_ctl.log" >&2
    show_log_tail "$LOGFILE"
    die "pg_ctl start failed (is port $PORT taken by another program?)"
  fi
fi

if ! wait_until "$START_TIMEOUT" healthy; then
  show_log_tail "$LOGFILE"
  die "server not accepting queries on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
fi

version="$(psql -X -w -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc 'show server_version')"
log "running PostgreSQL $version on 127.0.0.1:$PORT (ready after $((SECONDS - start))s)"
