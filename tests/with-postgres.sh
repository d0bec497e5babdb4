#!/usr/bin/env bash
# Runs a command with DATABASE_URL pointing at a private, throwaway Postgres cluster.
#
# The cluster is Wharf's own embedded default (`wharf embedded-postgres`), in a temporary
# directory; it is stopped and deleted when the command ends, whether it passed or not.
set -euo pipefail

wharf="${WHARF_BIN:-${CARGO_TARGET_DIR:?}/debug/wharf}"
scratch=$(mktemp -d -t wharf-pg-XXXXXX)
chmod 755 "$scratch"   # the cluster runs as `postgres` when this runs as root
pid=

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT INT TERM

env -u DATABASE_URL RUST_LOG=warn "$wharf" embedded-postgres --data-dir "$scratch/data" \
    >"$scratch/url" 2>"$scratch/log" &
pid=$!
for _ in $(seq 1 600); do
    grep -q '^DATABASE_URL=' "$scratch/url" 2>/dev/null && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "the test Postgres did not start:" >&2
        cat "$scratch/log" >&2
        exit 1
    fi
    sleep 0.1
done
DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' "$scratch/url")
[ -n "$DATABASE_URL" ] || { echo "the test Postgres did not start in 60 s" >&2; cat "$scratch/log" >&2; exit 1; }
export DATABASE_URL

"$@"
