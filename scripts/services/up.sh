#!/usr/bin/env bash
# Bring up Postgres (55432), Redis (56379) and Kafka (59092/59093) for tests, in parallel.
# Idempotent and quick when they already run. Exits non-zero if any of them fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start=$SECONDS
services=(postgres redis kafka schema-registry)
declare -A pids

for s in "${services[@]}"; do
  # Each script prefixes its own lines, so the interleaved output stays readable.
  bash "$here/$s.sh" &
  pids[$s]=$!
done

failed=()
for s in "${services[@]}"; do
  wait "${pids[$s]}" || failed+=("$s")
done

if ((${#failed[@]})); then
  echo "[up] FAILED: ${failed[*]} (see the messages above; data and logs under ${TRELLIS_SERVICES_DIR:-/tmp/trellis-services})" >&2
  exit 1
fi
echo "[up] all services ready in $((SECONDS - start))s: postgres 127.0.0.1:55432, redis 127.0.0.1:56379, kafka 127.0.0.1:59092"

# Warehouse emulators for the Snowflake and BigQuery adapters: fakesnow's server mode (58080) and the BigQuery
# REST emulator on DuckDB (59050). Both use one Python virtualenv (~/.cache/trellis/venv), which fakesnow.sh
# builds: start fakesnow first, then the emulator.
emulators_start=$SECONDS
bash "$here/fakesnow.sh" || { echo "[up] FAILED: fakesnow (logs under ${TRELLIS_SERVICES_DIR:-/tmp/trellis-services}/fakesnow)" >&2; exit 1; }
bash "$here/bigquery-emulator.sh" || { echo "[up] FAILED: bigquery emulator (logs under ${TRELLIS_SERVICES_DIR:-/tmp/trellis-services}/bigquery)" >&2; exit 1; }
echo "[up] emulators ready in $((SECONDS - emulators_start))s: fakesnow http://127.0.0.1:58080, bigquery http://127.0.0.1:59050"
