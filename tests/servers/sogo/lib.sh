# shellcheck shell=bash
# Shared helpers of tests/servers/sogo/start and stop (sourced, not run).
#
# Layout of one harness (all under $SOGO_HARNESS_DIR, default /var/lib/eassync-sogo-harness):
#   env                     KEY=VALUE lines of the last start (ports, users, URLs), mode 0600
#   pg/data, pg/run, pg/log private PostgreSQL cluster (owner postgres)
#   memcached/              pid file (owner memcache)
#   sogo/                   sogod pid file and log (owner sogo)
#
# /etc/sogo/sogo.conf is global: the Debian build of sogod reads only that path. So only
# one harness can run per machine; /etc/sogo/sogo.conf.harness-owner names the harness
# directory that wrote it, and start refuses to take it over while that one runs.

set -euo pipefail

HARNESS_LOCK=/run/lock/eassync-sogo-harness-start.lock
SOGO_CONF=/etc/sogo/sogo.conf
SOGO_CONF_ORIG=/etc/sogo/sogo.conf.orig-harness
SOGO_CONF_OWNER=/etc/sogo/sogo.conf.harness-owner

log() { printf 'sogo-harness: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# shellcheck disable=SC2034  # the paths are used by start and stop
harness_init() {
    SOGO_HARNESS_DIR=${SOGO_HARNESS_DIR:-/var/lib/eassync-sogo-harness}
    SOGO_HARNESS_DIR=${SOGO_HARNESS_DIR%/}
    case $SOGO_HARNESS_DIR in
    /*) ;;
    *) die "SOGO_HARNESS_DIR must be an absolute path: $SOGO_HARNESS_DIR" ;;
    esac
    PG_DIR=$SOGO_HARNESS_DIR/pg
    PG_DATA=$PG_DIR/data
    PG_RUN=$PG_DIR/run
    MC_DIR=$SOGO_HARNESS_DIR/memcached
    MC_PIDFILE=$MC_DIR/memcached.pid
    SOGO_DIR=$SOGO_HARNESS_DIR/sogo
    SOGO_PIDFILE=$SOGO_DIR/sogo.pid
    SOGO_LOG=$SOGO_DIR/sogo.log
    ENV_FILE=$SOGO_HARNESS_DIR/env
}

take_lock() {
    # One lock for every harness on the machine: they all share /etc/sogo/sogo.conf.
    # Daemons are started with 9>&- so that they do not inherit (and hold) the lock.
    mkdir -p "$(dirname "$HARNESS_LOCK")"
    exec 9>"$HARNESS_LOCK"
    flock -w 180 9 || die "could not take $HARNESS_LOCK within 180 s (another start/stop runs)"
}

require_root() {
    [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and runs services as their users)"
}

pg_bin() {
    local dir
    dir=$(find /usr/lib/postgresql -maxdepth 3 -name initdb -path '*/bin/*' 2>/dev/null |
        sort -V | tail -n 1)
    [ -n "$dir" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
    dirname "$dir"
}

# Value of KEY in the env file of the previous start, or empty.
previous_value() {
    local key=$1
    [ -f "$ENV_FILE" ] || return 0
    sed -n "s/^$key=//p" "$ENV_FILE" | tail -n 1
}

# The pid in FILE if that process is alive and its command line contains every PATTERN.
# Checking /proc/<pid>/cmdline guards against a recycled pid.
live_pid() {
    local file=$1 pid cmdline pattern
    shift
    [ -r "$file" ] || return 1
    pid=$(head -n 1 "$file" | tr -dc '0-9')
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    for pattern in "$@"; do
        case $cmdline in
        *"$pattern"*) ;;
        *) return 1 ;;
        esac
    done
    echo "$pid"
}

postgres_pid() { live_pid "$PG_DATA/postmaster.pid" postgres; }
memcached_pid() { live_pid "$MC_PIDFILE" memcached "$MC_PIDFILE"; }

# Every sogod process (watchdog and workers) of this harness: forked workers keep the
# parent's command line, which names this harness's pid file.
sogod_pids() {
    local proc cmdline
    for proc in /proc/[0-9]*; do
        cmdline=$(tr '\0' ' ' 2>/dev/null <"$proc/cmdline") || continue
        case $cmdline in
        *sogod*"-WOPidFile $SOGO_PIDFILE"*) echo "${proc#/proc/}" ;;
        esac
    done
}

# A zombie counts as gone: under a container's init it may never be reaped.
is_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# Wait up to SECONDS for every pid to exit; print the ones still alive.
wait_gone() {
    local seconds=$1 deadline pid alive
    shift
    deadline=$((SECONDS + seconds))
    while :; do
        alive=()
        for pid in "$@"; do
            is_alive "$pid" && alive+=("$pid")
        done
        if [ ${#alive[@]} -eq 0 ] || [ $SECONDS -ge $deadline ]; then
            break
        fi
        sleep 0.1
    done
    echo "${alive[@]:-}"
}

stop_sogod() {
    local pids left
    mapfile -t pids < <(sogod_pids)
    [ ${#pids[@]} -gt 0 ] || return 0
    log "stopping sogod (pids ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # Q12: a worker that served EAS exits only ~30 s after TERM; give it 3 s, then KILL.
    left=$(wait_gone 3 "${pids[@]}")
    if [ -n "$left" ]; then
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        # shellcheck disable=SC2086
        wait_gone 5 $left >/dev/null
    fi
    rm -f "$SOGO_PIDFILE"
}

stop_memcached() {
    local pid
    pid=$(memcached_pid) || return 0
    log "stopping memcached (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    [ -z "$(wait_gone 5 "$pid")" ] || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$MC_PIDFILE"
}

stop_postgres() {
    postgres_pid >/dev/null || return 0
    log "stopping postgres"
    runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
}

# Put the system's own sogo.conf back if this harness wrote the current one.
restore_sogo_conf() {
    [ -f "$SOGO_CONF_OWNER" ] && [ "$(cat "$SOGO_CONF_OWNER")" = "$SOGO_HARNESS_DIR" ] || return 0
    if [ -f "$SOGO_CONF_ORIG" ]; then
        cp -p "$SOGO_CONF_ORIG" "$SOGO_CONF"
    fi
    rm -f "$SOGO_CONF_OWNER"
}

stop_all() {
    stop_sogod
    stop_memcached
    stop_postgres
    restore_sogo_conf
}

wipe_data() {
    log "wiping $SOGO_HARNESS_DIR"
    rm -rf "${PG_DIR:?}" "${MC_DIR:?}" "${SOGO_DIR:?}" "${ENV_FILE:?}"
}
