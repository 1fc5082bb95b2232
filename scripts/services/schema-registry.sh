#!/usr/bin/env bash
# Start a Confluent-compatible schema registry on 127.0.0.1:58081 for tests: Apicurio Registry (in-memory H2
# storage), whose Confluent API answers under http://127.0.0.1:58081/apis/ccompat/v7 (/subjects/{s}/versions,
# /schemas/ids/{id}, ...). Idempotent: exits 0 at once when that API already answers.
#
#   schema-registry.sh         fetch (once) and start the registry
#   schema-registry.sh stop    stop the registry this script started (down.sh)
#
# The distribution is Maven Central's io.apicurio:apicurio-registry-app:<version>:tar.gz:all (a Quarkus runner jar
# and its lib/), fetched once with mvn and unpacked into ${TRELLIS_CACHE_DIR:-~/.cache/trellis}/schema-registry.
# 2.6.x runs on Java 17; the 3.x distributions are built for Java 21, which Debian 12 does not package.
# Schemas live in memory: a restart forgets them (tests register their own, under subjects named after their topics).
set -euo pipefail

SERVICE=schema-registry
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION="${TRELLIS_SCHEMA_REGISTRY_VERSION:-2.6.13.Final}"
PORT="${TRELLIS_SCHEMA_REGISTRY_PORT:-58081}"
CACHE="${TRELLIS_CACHE_DIR:-$HOME/.cache/trellis}/schema-registry/$VERSION"
DIST="$CACHE/dist"
DIR="$TRELLIS_SERVICES_DIR/schema-registry"
LOGFILE="$DIR/registry.log"
PIDFILE="$DIR/registry.pid"
START_TIMEOUT="${TRELLIS_SCHEMA_REGISTRY_START_TIMEOUT:-180}"
API="http://127.0.0.1:$PORT/apis/ccompat/v7"
start=$SECONDS

our_registry_alive() {
  # The pid file may be stale after a reboot, with its pid reused by an unrelated process.
  [[ -f "$PIDFILE" ]] && grep -qs apicurio-registry-app "/proc/$(cat "$PIDFILE")/cmdline"
}

if [[ "${1:-}" == "stop" ]]; then
  if our_registry_alive; then
    pid="$(cat "$PIDFILE")"
    log "stopping pid $pid"
    kill -TERM "$pid"
    wait_until 30 bash -c "! kill -0 $pid 2>/dev/null" || { log "still alive after 30s; killing"; kill -KILL "$pid"; }
    rm -f "$PIDFILE"
  else
    log "not running"
  fi
  exit 0
fi

healthy() {
  port_open "$PORT" && [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$API/subjects")" == 200 ]]
}

if command -v curl >/dev/null && healthy; then
  log "already running: $API"
  exit 0
fi

take_lock
command -v curl >/dev/null || apt_install curl
if healthy; then
  log "already running: $API (started by a concurrent run)"
  exit 0
fi
command -v java >/dev/null || die "java not found (Apicurio Registry $VERSION needs Java 17+)"

# --- distribution -----------------------------------------------------------
if [[ ! -f "$DIST/.complete" ]]; then
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch io.apicurio:apicurio-registry-app:$VERSION)"
  mkdir -p "$CACHE"
  log "fetching io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all with Maven into $CACHE (first run only)"
  mvnlog="$CACHE/mvn.log"
  rm -rf "$CACHE/download" "$DIST.partial"
  # sed: Maven 3.8 writes colour codes even in batch mode.
  if ! mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all" -DoutputDirectory="$CACHE/download" </dev/null 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g' >"$mvnlog"; then
    show_log_tail "$mvnlog"
    die "mvn could not fetch io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all"
  fi
  mkdir -p "$DIST.partial"
  tar -xzf "$CACHE/download/apicurio-registry-app-$VERSION-all.tar.gz" -C "$DIST.partial" || die "could not unpack the registry distribution"
  rm -rf "$DIST" "$CACHE/download"
  mv "$DIST.partial" "$DIST"
  touch "$DIST/.complete"
fi
RUNNER="$(find "$DIST" -maxdepth 1 -name '*-runner.jar' | head -n 1)"
[[ -n "$RUNNER" ]] || die "no *-runner.jar in $DIST"

# --- start ------------------------------------------------------------------
if our_registry_alive; then
  log "registry pid $(cat "$PIDFILE") is alive but not answering yet; waiting"
else
  port_open "$PORT" && die "port $PORT is taken by something that is not the schema registry (set TRELLIS_SCHEMA_REGISTRY_PORT)"
  mkdir -p "$DIR"
  log "starting Apicurio Registry $VERSION (log: $LOGFILE)"
  # setsid + nohup: the registry outlives this script and the test run; 9>&-: it must not inherit our lock.
  # The working directory is $DIR, so nothing the registry might write lands in the repository.
  cd "$DIR"
  setsid nohup java -Xms64m -Xmx384m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" -Dquarkus.log.level=WARN \
    -jar "$RUNNER" </dev/null >"$LOGFILE" 2>&1 9>&- &
  echo $! >"$PIDFILE"
fi

pid="$(cat "$PIDFILE")"
deadline=$((SECONDS + START_TIMEOUT))
until healthy; do
  if ! kill -0 "$pid" 2>/dev/null; then
    show_log_tail "$LOGFILE" 60
    die "registry process $pid exited during start-up"
  fi
  if ((SECONDS >= deadline)); then
    show_log_tail "$LOGFILE" 60
    die "registry not answering $API/subjects after ${START_TIMEOUT}s"
  fi
  sleep 0.5
done
log "ready: $API (pid $pid) in $((SECONDS - start))s"
