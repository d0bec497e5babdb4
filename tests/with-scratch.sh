#!/usr/bin/env bash
# Runs a command with WHARF_E2E_SCRATCH pointing at a fresh directory where the client tests
# keep their daemons' state (dockerd, the reference registry). When the command ends, passed
# or not, any daemon a killed test left running there is stopped — only processes named by a
# *.pid file under this directory whose command line still mentions it — and the directory
# is deleted.
set -euo pipefail

scratch=$(mktemp -d /tmp/wharf-run-XXXXXX)
chmod 755 "$scratch"

reap() {
    local f pid pids=()
    while IFS= read -r -d '' f; do
        pid=$(head -n1 "$f" 2>/dev/null || true)
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$scratch"; then
            echo "with-scratch: stopping leftover $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-80) (pid $pid)" >&2
            kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        fi
    done < <(find "$scratch" -name '*.pid' -print0 2>/dev/null)
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$scratch"
}
trap reap EXIT INT TERM

export WHARF_E2E_SCRATCH="$scratch"
"$@"
