# shellcheck shell=bash
# Shared helpers of tests/servers/horde/start, stop and status (sourced, not run).
#
# Layout of one harness (all under $HORDE_HARNESS_DIR, default /var/lib/eassync-horde-harness):
#   env                      KEY=VALUE lines of the last start (port, users, URLs), mode 0600
#   etc/                     <app>-overrides.php (required by /etc/horde/<app>/conf.php),
#                            router.php, secret_key
#   shim/                    patched copies of three classes + prepend.php (setup/shims.py)
#   share/tzdata.tar.gz      Olson source made from the system's tzdata.zi
#   db/horde.sqlite          everything Horde stores (www-data, 0600; root may read it)
#   log/                     horde.log, php-error.log, php-server.log, activesync/<DEVICE>.txt
#   tmp/ vfs/ sessions/      www-data's
#   run/php.pid              the php -S master
#
# /etc/horde/<app>/conf.php is global (Horde reads only that path): one harness per
# machine. /etc/horde/horde/conf.php.harness-owner names the harness dir that wrote
# them; the system's own files (Debian ships none) are kept as conf.php.orig-harness.

set -euo pipefail

HARNESS_LOCK=/run/lock/eassync-horde-harness-start.lock
HORDE_APPS=(horde kronolith nag turba mnemo)
CONF_OWNER=/etc/horde/horde/conf.php.harness-owner
TURBA_LOCAL=/etc/horde/turba/backends.local.php

log() { printf 'horde-harness: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# shellcheck disable=SC2034  # the paths are used by start, stop and status
harness_init() {
    HORDE_HARNESS_DIR=${HORDE_HARNESS_DIR:-/var/lib/eassync-horde-harness}
    HORDE_HARNESS_DIR=${HORDE_HARNESS_DIR%/}
    case $HORDE_HARNESS_DIR in
    /*) ;;
    *) die "HORDE_HARNESS_DIR must be an absolute path: $HORDE_HARNESS_DIR" ;;
    esac
    H=$HORDE_HARNESS_DIR
    ENV_FILE=$H/env
    PID_FILE=$H/run/php.pid
    SERVER_LOG=$H/log/php-server.log
}

take_lock() {
    # Daemons are started with 9>&- so that they do not inherit (and hold) the lock.
    mkdir -p "$(dirname "$HARNESS_LOCK")"
    exec 9>"$HARNESS_LOCK"
    flock -w 180 9 || die "could not take $HARNESS_LOCK within 180 s (another start/stop runs)"
}

require_root() {
    [ "$(id -u)" = 0 ] || die "must run as root (it installs packages, writes /etc/horde, runs php as www-data)"
}

# Value of KEY in the env file of the previous start, or empty.
previous_value() {
    [ -f "$ENV_FILE" ] || return 0
    sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}

# The php -S master of this harness: the pid file's process if it is alive and its
# command line serves 127.0.0.1:<port> with this harness's router (guards against a
# recycled pid).
php_pid() {
    local pid cmdline
    [ -r "$PID_FILE" ] || return 1
    pid=$(head -n 1 "$PID_FILE" | tr -dc '0-9')
    [ -n "$pid" ] && alive "$pid" || return 1
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    case $cmdline in
    *" -S 127.0.0.1:"*" $H/etc/router.php"*) echo "$pid" ;;
    *) return 1 ;;
    esac
}

# Direct children of PID (php -S workers), from PPid: in /proc/*/status.
children_of() {
    local parent=$1 proc
    for proc in /proc/[0-9]*; do
        [ "$(sed -n 's/^PPid:[[:space:]]*//p' "$proc/status" 2>/dev/null)" = "$parent" ] &&
            echo "${proc#/proc/}"
    done
    return 0
}

# A zombie counts as gone: under a container's init it may never be reaped.
alive() {
    local state
    state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

stop_php() {
    local pid pids p left
    pid=$(php_pid) || return 0
    read -ra pids <<<"$pid $(children_of "$pid" | tr '\n' ' ')"
    log "stopping php -S (pids ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 100); do
        left=0
        for p in "${pids[@]}"; do
            alive "$p" && left=1
        done
        if [ $left = 0 ]; then
            rm -f "$PID_FILE"
            return 0
        fi
        sleep 0.1
    done
    log "php -S did not end within 10 s: KILL"
    for p in "${pids[@]}"; do
        alive "$p" && kill -KILL "$p" 2>/dev/null
    done
    rm -f "$PID_FILE"
}

# Put the system's /etc/horde files back (or remove ours when there were none).
restore_system_conf() {
    local app conf
    [ -f "$CONF_OWNER" ] && [ "$(cat "$CONF_OWNER")" = "$H" ] || return 0
    for app in "${HORDE_APPS[@]}"; do
        conf=/etc/horde/$app/conf.php
        if [ -f "$conf.orig-harness" ]; then
            mv -f "$conf.orig-harness" "$conf"
        else
            rm -f "$conf"
        fi
    done
    if [ -f "$TURBA_LOCAL.orig-harness" ]; then
        mv -f "$TURBA_LOCAL.orig-harness" "$TURBA_LOCAL"
    else
        rm -f "$TURBA_LOCAL"
    fi
    rm -f "$CONF_OWNER"
}

wipe_data() {
    log "wiping $H/{db,log,tmp,vfs,sessions,run,env}"
    rm -rf "${H:?}/db" "$H/log" "$H/tmp" "$H/vfs" "$H/sessions" "$H/run" "$H/env"
}
