#!/usr/bin/env bash
# Start fakesnow's server mode (a Snowflake emulation on DuckDB, PyPI `fakesnow`) on 127.0.0.1:58080 for
# tests. snowflake-sdk reaches it through test/support/snowflake-arrow-proxy.ts, which the tests start
# in-process. Databases live as DuckDB files in $TRELLIS_SERVICES_DIR/fakesnow/data (one file per database).
# Idempotent: exits 0 at once when the server already answers a login on its port.
#
#   fakesnow.sh           install (once) and start the server
#   fakesnow.sh --venv    only make sure the Python virtualenv exists; print its python (bigquery-emulator.sh
#                         uses the same virtualenv)
#
# The virtualenv lives outside the repository, in ${TRELLIS_PYTHON_VENV:-~/.cache/trellis/venv}, and is
# rebuilt when the pinned requirements below change.
set -euo pipefail

SERVICE=fakesnow
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT="${TRELLIS_FAKESNOW_PORT:-58080}"
DIR="$TRELLIS_SERVICES_DIR/fakesnow"
LOGFILE="$DIR/fakesnow.log"
START_TIMEOUT="${TRELLIS_FAKESNOW_START_TIMEOUT:-60}"
VENV="${TRELLIS_PYTHON_VENV:-$HOME/.cache/trellis/venv}"
# fakesnow 0.12.1 pins duckdb~=2.0.0 and sqlglot~=30.22.0 and imports snowflake.connector.converter, which
# snowflake-connector-python 5.x no longer has: hence 4.8.1.
REQUIREMENTS=(
  "fakesnow[server]==0.12.1"
  "sqlglot==30.22.0"
  "duckdb==2.0.0"
  "snowflake-connector-python==4.8.1"
  "pyarrow==26.0.1"
  "starlette==1.10.0"
  "uvicorn==0.54.0"
)
start=$SECONDS

ensure_venv() {
  local stamp="$VENV/.trellis-requirements" want
  want="$(printf '%s\n' "${REQUIREMENTS[@]}")"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  mkdir -p "$(dirname "$VENV")"
  (
    flock -w 900 7 || { echo "[$SERVICE] timed out waiting for the virtualenv lock" >&2; exit 1; }
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
    local piplog="$TRELLIS_SERVICES_DIR/pip-trellis-venv.log"
    log "installing ${REQUIREMENTS[*]} into $VENV (log: $piplog)" >&2
    local t0=$SECONDS
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV" >"$piplog" 2>&1 || { cat "$piplog" >&2; exit 1; }
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${REQUIREMENTS[@]}" </dev/null >>"$piplog" 2>&1 ||
      { tail -n 40 "$piplog" >&2; exit 1; }
    printf '%s' "$want" >"$stamp"
    log "virtualenv ready in $((SECONDS - t0))s" >&2
  ) 7>"$(dirname "$VENV")/.trellis-venv.lock" || die "could not build the Python virtualenv $VENV"
}

if [[ "${1:-}" == "--venv" ]]; then
  ensure_venv
  echo "$VENV/bin/python"
  exit 0
fi

# A login answered with a session token: the server is up and its DuckDB works.
healthy() {
  [[ -x "$VENV/bin/python" ]] && port_open "$PORT" &&
    "$VENV/bin/python" - "$PORT" >/dev/null 2>&1 <<'EOF'
import json, sys, urllib.request
req = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/session/v1/login-request?databaseName=TRELLIS_HEALTH&schemaName=PUBLIC",
    data=json.dumps({"data": {"SESSION_PARAMETERS": {}}}).encode(), method="POST")
with urllib.request.urlopen(req, timeout=5) as r:
    token = json.load(r)["data"]["token"]
# Log out again, or fakesnow keeps the session (and its DuckDB cursor) for good.
out = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/session?delete=true", data=b"", method="POST",
                             headers={"Authorization": f'Snowflake Token="{token}"'})
urllib.request.urlopen(out, timeout=5).close()
EOF
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

ensure_venv
if port_open "$PORT"; then
  die "port $PORT is taken by something that is not fakesnow (set TRELLIS_FAKESNOW_PORT)"
fi

mkdir -p "$DIR/data"
# Test databases (trellis_t_*) of earlier runs: fakesnow cannot DROP DATABASE, and the server is down here.
find "$DIR/data" -maxdepth 1 -name 'trellis_t_*.db*' -delete 2>/dev/null || true
log "starting fakesnow server (log: $LOGFILE)"
# setsid + nohup: the server outlives this script and the test run; 9>&-: it must not inherit our lock.
setsid nohup "$VENV/bin/python" - "$PORT" "$DIR/data" >"$LOGFILE" 2>&1 9>&- <<'EOF' &
import sys
import uvicorn
import fakesnow.info_schema
import fakesnow.server
from fakesnow.instance import FakeSnow

# fakesnow 0.12.1 records VARCHAR column lengths with an INSERT whose string literals are not escaped
# (info_schema.insert_text_lengths_sql), so a column named e.g. `it's` breaks CREATE TABLE halfway. Escape them:
# Snowflake itself allows any character in a quoted identifier.
_insert_text_lengths_sql = fakesnow.info_schema.insert_text_lengths_sql
def _escaped_insert_text_lengths_sql(catalog, schema, table, text_lengths):
    q = lambda s: s.replace("'", "''")
    return _insert_text_lengths_sql(q(catalog), q(schema), q(table), [(q(c), n) for c, n in text_lengths])
fakesnow.info_schema.insert_text_lengths_sql = _escaped_insert_text_lengths_sql

# fakesnow 0.12.1 hands Snowflake's `A ASOF JOIN B MATCH_CONDITION (c) ON k` to DuckDB unchanged, which DuckDB
# cannot parse. Snowflake's ASOF JOIN keeps unmatched left rows (like a left outer join), so the nearest DuckDB
# form is `A ASOF LEFT JOIN B ON k AND c`.
from sqlglot import exp
import fakesnow.cursor
def _asof(node):
    if isinstance(node, exp.Join) and node.args.get("match_condition") is not None:
        condition, on = node.args["match_condition"], node.args.get("on")
        node.set("match_condition", None)
        node.set("on", exp.and_(on, condition) if on is not None else condition)
        node.set("side", "LEFT")
    return node
_transform = fakesnow.cursor.FakeSnowflakeCursor._transform
def _transform_with_asof(self, expression, params):
    return _transform(self, expression.transform(_asof, copy=False), params)
fakesnow.cursor.FakeSnowflakeCursor._transform = _transform_with_asof

# Server mode keeps databases in memory unless a session asks otherwise; keep them as files instead.
fakesnow.server.shared_fs = FakeSnow(db_path=sys.argv[2])
uvicorn.run(fakesnow.server.app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
EOF
echo $! >"$DIR/fakesnow.pid"

if ! wait_until "$START_TIMEOUT" healthy; then
  show_log_tail "$LOGFILE"
  die "fakesnow not answering a login on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
fi
version="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("fakesnow"))')"
log "running fakesnow $version on 127.0.0.1:$PORT, data in $DIR/data (ready after $((SECONDS - start))s)"
