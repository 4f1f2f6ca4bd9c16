#!/usr/bin/env bash
# A Docker daemon for the image tests and the kind tier, started only when none answers.
#
#   scripts/docker-daemon.sh start   install docker.io if absent (Debian, as root), start
#                                    dockerd unless one already answers; prints "started"
#                                    when it started one, "reused" when one was running
#   scripts/docker-daemon.sh stop    stop the dockerd that `start` started (found by its
#                                    pid file); a daemon it did not start is left alone
#
# The daemon it starts: overlay2 storage, the cgroupfs cgroup driver (the machines this
# runs on have a cgroup v1 hierarchy and no systemd as PID 1), its own pid file, socket
# and log under $WALRUS_DOCKER_STATE (default /run/walrus-docker), data in Docker's usual
# /var/lib/docker so that the image cache survives between runs.
#
# Environment:
#   WALRUS_DOCKER_STATE      pid file and log directory (default /run/walrus-docker)
#   WALRUS_DOCKER_WAIT       seconds to wait for the daemon to answer (default 120)
set -euo pipefail

STATE="${WALRUS_DOCKER_STATE:-/run/walrus-docker}"
WAIT="${WALRUS_DOCKER_WAIT:-120}"
PIDFILE="$STATE/dockerd.pid"
log() { echo "docker-daemon: $*" >&2; }

answers() { docker info >/dev/null 2>&1; }

install() {
    if command -v dockerd >/dev/null && command -v docker >/dev/null; then
        return
    fi
    [[ "$(id -u)" == 0 ]] || { log "docker.io is not installed and this is not root"; exit 1; }
    log "installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq -o DPkg::Lock::Timeout=600 >&2
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 docker.io >&2
}

start() {
    install
    if answers; then
        echo reused
        return
    fi
    mkdir -p "$STATE"
    log "starting dockerd (log: $STATE/dockerd.log)"
    # setsid: the daemon outlives this script (the caller stops it with `stop`), and a
    # terminal's signals do not reach it.
    setsid dockerd --storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs \
        --pidfile "$PIDFILE" >"$STATE/dockerd.log" 2>&1 < /dev/null &
    local pid=$! deadline=$((SECONDS + WAIT))
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -20 "$STATE/dockerd.log" >&2
            log "dockerd exited"
            exit 1
        fi
        if ((SECONDS > deadline)); then
            log "dockerd did not answer within $WAIT s"
            kill "$pid" 2>/dev/null || true
            exit 1
        fi
        sleep 0.5
    done
    echo "$pid" > "$STATE/started-by-us"
    echo started
}

stop() {
    [[ -f "$STATE/started-by-us" ]] || return 0
    local pid
    pid="$(cat "$STATE/started-by-us")"
    rm -f "$STATE/started-by-us"
    kill -0 "$pid" 2>/dev/null || return 0
    log "stopping dockerd $pid"
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
