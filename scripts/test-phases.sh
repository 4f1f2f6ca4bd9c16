#!/usr/bin/env bash
# `make test`: runs its phases one after another, then prints how long each took.
#
#   scripts/test-phases.sh PHASE...      each PHASE is a make target (lint, unit, e2e, ...)
#
# Where a Docker daemon answers, the kind tier's preparation (e2e/kind/prepare.sh: the kind
# binaries, the kind node image and both project images, all cached) runs in the
# background once the `unit` phase is over (after the first phase when there is no `unit`
# phase; WALRUS_KIND_PREPARE_AFTER names another), beside the later phases, so that the
# unit tier's measuring tests have the machine to themselves. It runs in a process group
# of its own; its output goes to $WALRUS_TEST_LOGS/kind-prepare.log. The `kind-tier`
# phase waits for it first, and its failure fails the run (the log's tail is printed).
# On every exit path,
# Ctrl-C included, a preparation still running is stopped (its whole process group).
#
# The table at the end (also on failure) has each phase's wall time; with the background
# preparation, its own wall time and how long `kind-tier` waited for it.
#
# Environment:
#   WALRUS_TEST_LOGS       where the run's logs go (default .venv/test-logs)
#   WALRUS_KIND_PREPARE    the preparation's command (default: bash e2e/kind/prepare.sh)
#   WALRUS_KIND_PREPARE_AFTER  the phase after which it starts (default: unit)
set -euo pipefail
cd "$(dirname "$0")/.."

LOGS="${WALRUS_TEST_LOGS:-.venv/test-logs}"
mkdir -p "$LOGS"
report=()
prepare_pid=""
prepare_started=0
total_started=$SECONDS
prepare_after="${WALRUS_KIND_PREPARE_AFTER:-unit}"
[[ " $* " == *" $prepare_after "* ]] || prepare_after="$1"

print_report() {
    local rc=$?
    if [[ -n "$prepare_pid" ]] && kill -0 "$prepare_pid" 2>/dev/null; then
        kill -TERM -- "-$prepare_pid" 2>/dev/null || true
        wait "$prepare_pid" 2>/dev/null || true
        report+=("kind-prepare (stopped)|$((SECONDS - prepare_started))")
    fi
    {
        echo
        echo "make test: phases (wall time)"
        local line
        for line in "${report[@]}"; do
            printf '  %-32s %5d s  (%d min %02d s)\n' "${line%%|*}" "${line##*|}" \
                "$((${line##*|} / 60))" "$((${line##*|} % 60))"
        done
        local total=$((SECONDS - total_started))
        printf '  %-32s %5d s  (%d min %02d s)%s\n' total "$total" "$((total / 60))" \
            "$((total % 60))" "$([[ $rc == 0 ]] || echo "  FAILED (exit $rc)")"
    } >&2
    exit "$rc"
}
trap print_report EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for_prepare() {
    [[ -n "$prepare_pid" ]] || return 0
    local waited=$SECONDS rc=0
    wait "$prepare_pid" || rc=$?
    prepare_pid=""
    report+=("kind-prepare (background)|$((SECONDS - prepare_started))")
    report+=("  kind-tier waited for it|$((SECONDS - waited))")
    if [[ $rc != 0 ]]; then
        echo "make test: the kind tier's preparation failed (exit $rc); end of $LOGS/kind-prepare.log:" >&2
        tail -n 40 "$LOGS/kind-prepare.log" >&2 || true
        return "$rc"
    fi
}

for phase in "$@"; do
    if [[ "$phase" == kind-tier ]]; then
        wait_for_prepare
    fi
    started=$SECONDS
    rc=0
    make --no-print-directory "$phase" || rc=$?
    report+=("$phase|$((SECONDS - started))")
    [[ $rc == 0 ]] || exit "$rc"
    # Once the virtualenv exists (every phase makes it; the images' wheels are built with
    # it) and the unit tier is over, start the kind preparation beside the rest, if there
    # will be a kind tier and a daemon to build for.
    if [[ "$phase" == "$prepare_after" && " $* " == *" kind-tier "* && -z "$prepare_pid" ]] &&
        docker info >/dev/null 2>&1; then
        prepare_started=$SECONDS
        setsid bash -c "${WALRUS_KIND_PREPARE:-bash e2e/kind/prepare.sh}" \
            >"$LOGS/kind-prepare.log" 2>&1 </dev/null &
        prepare_pid=$!
        echo "make test: preparing the kind tier in the background (pid $prepare_pid, $LOGS/kind-prepare.log)" >&2
    fi
done
wait_for_prepare
