#!/usr/bin/env bash
# Start the BigQuery REST emulator (scripts/services/bigquery_emulator.py: GoogleSQL transpiled by sqlglot,
# executed on DuckDB) on 127.0.0.1:59050 for tests. Point @google-cloud/bigquery at it with
# `apiEndpoint: 'http://127.0.0.1:59050'`. Data: $TRELLIS_SERVICES_DIR/bigquery/bigquery.duckdb.
# Idempotent: exits 0 at once when the emulator already answers on its port. Uses the Python virtualenv
# that fakesnow.sh builds (same pinned sqlglot and duckdb).
set -euo pipefail

SERVICE=bigquery
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

PORT="${TRELLIS_BIGQUERY_EMULATOR_PORT:-59050}"
DIR="$TRELLIS_SERVICES_DIR/bigquery"
LOGFILE="$DIR/emulator.log"
START_TIMEOUT="${TRELLIS_BIGQUERY_START_TIMEOUT:-30}"
start=$SECONDS

PYTHON=""
healthy() {
  [[ -n "$PYTHON" ]] && port_open "$PORT" &&
    "$PYTHON" - "$PORT" >/dev/null 2>&1 <<'EOF'
import json, sys, urllib.request
body = json.dumps({"query": "SELECT 1 AS ok", "useLegacySql": False}).encode()
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/bigquery/v2/projects/trellis-health/queries",
                             data=body, method="POST", headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=5) as r:
    assert json.load(r)["rows"][0]["f"][0]["v"] == "1"
EOF
}

PYTHON="$(bash "$here/fakesnow.sh" --venv)" || die "no Python virtualenv (see the fakesnow messages above)"

if healthy; then
  log "already running on 127.0.0.1:$PORT"
  exit 0
fi

take_lock
if healthy; then
  log "already running on 127.0.0.1:$PORT (started by a concurrent run)"
  exit 0
fi
if port_open "$PORT"; then
  die "port $PORT is taken by something that is not the BigQuery emulator (set TRELLIS_BIGQUERY_EMULATOR_PORT)"
fi

mkdir -p "$DIR"
log "starting emulator (log: $LOGFILE)"
setsid nohup "$PYTHON" "$here/bigquery_emulator.py" --port "$PORT" --database "$DIR/bigquery.duckdb" \
  </dev/null >"$LOGFILE" 2>&1 9>&- &
echo $! >"$DIR/emulator.pid"

if ! wait_until "$START_TIMEOUT" healthy; then
  show_log_tail "$LOGFILE"
  die "emulator not answering on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
fi
log "running on 127.0.0.1:$PORT, data in $DIR/bigquery.duckdb (ready after $((SECONDS - start))s)"
