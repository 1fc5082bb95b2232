# Shared helpers for the service scripts. Sourced, not executed.
# shellcheck shell=bash

TRELLIS_SERVICES_DIR="${TRELLIS_SERVICES_DIR:-/tmp/trellis-services}"
mkdir -p "$TRELLIS_SERVICES_DIR"
chmod 755 "$TRELLIS_SERVICES_DIR"

log() { echo "[$SERVICE] $*"; }

die() {
  echo "[$SERVICE] ERROR: $*" >&2
  exit 1
}

# Print the last lines of a log file to stderr, if it exists.
show_log_tail() {
  local file="$1" lines="${2:-40}"
  if [[ -f "$file" ]]; then
    echo "[$SERVICE] ---- last $lines lines of $file ----" >&2
    tail -n "$lines" "$file" >&2
    echo "[$SERVICE] ---- end of $file ----" >&2
  else
    echo "[$SERVICE] (no log file at $file)" >&2
  fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Serialise concurrent runs of the same script (two test runs starting at once):
# the second waits for the first, then finds the service healthy.
take_lock() {
  local lockfile="$TRELLIS_SERVICES_DIR/.$SERVICE.lock"
  exec 9>"$lockfile"
  if ! flock -w "${1:-900}" 9; then
    die "timed out waiting for $lockfile (another start still running?)"
  fi
}

# apt-get install the given packages unless all their commands already exist.
# Several scripts may run this at once, and dpkg allows one writer: hence the lock.
apt_install() {
  local aptlog="$TRELLIS_SERVICES_DIR/apt-$SERVICE.log"
  log "installing $* with apt-get (log: $aptlog)"
  (
    flock -w 900 8 || { echo "timed out waiting for the apt lock" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    local opts=(-y -q -o DPkg::Lock::Timeout=600 --no-install-recommends)
    # The package lists may be missing or stale on a fresh machine: update once and retry.
    # A package's postinst may start its service: it must not inherit our locks (fds 8 and 9).
    apt-get install "${opts[@]}" "$@" </dev/null >"$aptlog" 2>&1 8>&- 9>&- ||
      { apt-get update -q </dev/null >>"$aptlog" 2>&1 8>&- 9>&- &&
        apt-get install "${opts[@]}" "$@" </dev/null >>"$aptlog" 2>&1 8>&- 9>&-; }
  ) 8>/tmp/trellis-apt.lock || {
    show_log_tail "$aptlog"
    die "apt-get install $* failed"
  }
}

# wait_until TIMEOUT_SECONDS CMD...: poll CMD every 0.5s; false if it never succeeds in time.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}
