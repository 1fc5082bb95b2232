#!/usr/bin/env bash
# The Kafka broker's classpath: kafka_2.13 jars from Maven Central, fetched once into
# ${TRELLIS_CACHE_DIR:-~/.cache/trellis}/kafka/<version>/lib and reused by every broker the tests start.
#
# Sourced (by kafka.sh): defines KAFKA_VERSION, KAFKA_LIB and ensure_kafka_jars.
# Executed (by test/support/kafka-secure-broker.ts): fetches the jars if needed and prints the lib directory,
# so `java -cp "<dir>/*" ...` runs any Kafka tool.
# shellcheck shell=bash

KAFKA_VERSION="${TRELLIS_KAFKA_VERSION:-4.1.1}"
KAFKA_LOG4J_VERSION=2.24.3 # the log4j2 version kafka_2.13 4.1.x depends on
KAFKA_CACHE="${TRELLIS_CACHE_DIR:-$HOME/.cache/trellis}/kafka/$KAFKA_VERSION"
KAFKA_LIB="$KAFKA_CACHE/lib"

# Fetches the jars unless a complete set is cached. Concurrent callers wait for each other (lock on fd 7).
ensure_kafka_jars() {
  [[ -f "$KAFKA_LIB/.complete" ]] && return 0
  mkdir -p "$KAFKA_CACHE"
  (
    flock -w 900 7 || die "timed out waiting for $KAFKA_CACHE/.fetch.lock"
    [[ -f "$KAFKA_LIB/.complete" ]] && exit 0
    command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka jars)"
    log "fetching kafka_2.13 $KAFKA_VERSION jars with Maven into $KAFKA_LIB (first run only)"
    # kafka_2.13's pom brings slf4j-api 1.7 and log4j-core but no binding between them,
    # without which the broker logs nothing at all.
    cat >"$KAFKA_CACHE/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>trellis.test</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$KAFKA_LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    rm -rf "$KAFKA_LIB.partial"
    local mvnlog="$KAFKA_CACHE/mvn.log"
    # -U: retry artifacts whose earlier download failed (Maven caches failures).
    # sed: Maven 3.8 writes colour codes even in batch mode.
    if ! mvn -B -q -U -f "$KAFKA_CACHE/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB.partial" </dev/null 2>&1 |
      sed 's/\x1b\[[0-9;]*m//g' >"$mvnlog"; then
      show_log_tail "$mvnlog"
      die "mvn could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
    fi
    rm -rf "$KAFKA_LIB"
    mv "$KAFKA_LIB.partial" "$KAFKA_LIB"
    touch "$KAFKA_LIB/.complete"
  ) 7>"$KAFKA_CACHE/.fetch.lock" || exit 1
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  SERVICE=kafka-jars
  # shellcheck source=common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
  command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
  # Progress goes to stderr: stdout is the lib directory only.
  ensure_kafka_jars >&2
  echo "$KAFKA_LIB"
fi
