#!/usr/bin/env bash
# Start a single-node KRaft Kafka broker on 127.0.0.1:59092 (controller 59093) for tests.
# Idempotent: exits 0 at once when the broker already answers on its port.
# Jars come from Maven Central (org.apache.kafka:kafka_2.13), cached in ~/.cache/trellis/kafka.
set -euo pipefail

SERVICE=kafka
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# shellcheck source=kafka-jars.sh
source "$(dirname "${BASH_SOURCE[0]}")/kafka-jars.sh"
PORT=59092
CONTROLLER_PORT=59093
DIR="$TRELLIS_SERVICES_DIR/kafka"
LOGFILE="$DIR/kafka.log"
PIDFILE="$DIR/kafka.pid"
LIB="$KAFKA_LIB"
START_TIMEOUT="${TRELLIS_KAFKA_START_TIMEOUT:-180}"

started_here=0
start=$SECONDS

healthy() {
  # The broker listener opens only after the broker has finished starting up.
  port_open "$PORT"
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

command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"

# --- jars -------------------------------------------------------------------
ensure_kafka_jars

# --- config and storage -----------------------------------------------------
our_broker_alive() {
  # The pid file may be stale after a reboot, with its pid reused by an unrelated process.
  [[ -f "$PIDFILE" ]] && grep -qs kafka.Kafka "/proc/$(cat "$PIDFILE")/cmdline"
}

if our_broker_alive; then
  # Our broker is alive but not (yet) listening: still starting, or wedged.
  log "broker pid $(cat "$PIDFILE") is alive but not listening yet; waiting"
else
  mkdir -p "$DIR/data"
  cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
$(cat "$(dirname "${BASH_SOURCE[0]}")/kafka-single-node.properties")
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=24
log.segment.bytes=16777216
EOF
  cat >"$DIR/log4j2.properties" <<EOF
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka-request.name = kafka.request.logger
logger.kafka-request.level = WARN
logger.state-change.name = state.change.logger
logger.state-change.level = WARN
EOF

  JAVA_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$DIR/log4j2.properties")

  if [[ ! -f "$DIR/data/meta.properties" ]]; then
    # A cluster id is 16 random bytes in URL-safe base64 without padding (what StorageTool random-uuid prints).
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    log "formatting storage in $DIR/data (cluster id $cluster_id)"
    if ! java "${JAVA_OPTS[@]}" -cp "$LIB/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$DIR/server.properties" </dev/null >"$DIR/format.log" 2>&1; then
      show_log_tail "$DIR/format.log"
      die "kafka storage format failed"
    fi
  fi

  log "starting broker (log: $LOGFILE)"
  # setsid + nohup: the broker must outlive the shell and test run that started it,
  # and must hold neither their stdout/stderr nor our lock (fd 9) open.
  setsid nohup java "${JAVA_OPTS[@]}" -cp "$LIB/*" kafka.Kafka "$DIR/server.properties" \
    </dev/null >>"$LOGFILE" 2>&1 9>&- &
  echo $! >"$PIDFILE"
  started_here=1
fi

pid="$(cat "$PIDFILE")"
broker_up() {
  kill -0 "$pid" 2>/dev/null || return 2
  healthy
}
deadline=$((SECONDS + START_TIMEOUT))
while true; do
  rc=0
  broker_up || rc=$?
  ((rc == 0)) && break
  if ((rc == 2)); then
    show_log_tail "$LOGFILE" 60
    die "broker process $pid exited during start-up"
  fi
  if ((SECONDS >= deadline)); then
    show_log_tail "$LOGFILE" 60
    die "broker not listening on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
  fi
  sleep 0.5
done

if ((started_here)); then
  log "started kafka $KAFKA_VERSION on 127.0.0.1:$PORT (pid $pid) in $((SECONDS - start))s"
else
  log "running on 127.0.0.1:$PORT (pid $pid)"
fi
