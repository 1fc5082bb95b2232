#!/usr/bin/env bash
# Bring up Postgres (55432), Redis (56379) and Kafka (59092/59093) for tests, in parallel.
# Idempotent and quick when they already run. Exits non-zero if any of them fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start=$SECONDS
services=(postgres redis kafka)
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
