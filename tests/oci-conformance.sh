#!/usr/bin/env bash
# Runs the official OCI distribution-spec conformance suite (the newer one: main.go, run.go,
# api.go, ...) against a local `wharf serve`, once on filesystem storage and once on S3
# (s3s-fs), and prints each run's summary. Exits non-zero when a run has a failure.
#
# The suite is third-party code and is not part of this repository: give it as
#   OCI_CONFORMANCE_BIN=/path/to/built/conformance-binary   or
#   OCI_CONFORMANCE_SRC=/path/to/distribution-spec/conformance   (built here with `go build`;
#   needs the Go version of its go.mod and its modules; see docs/testing.md).
# Everything else is made here: a throwaway Postgres (tests/with-postgres.sh), one database,
# organization and vendor token per storage, an s3s-fs bucket. Extra OCI_* variables (e.g.
# OCI_VERSION=1.1+dev, OCI_CACHE_AUTH=false, OCI_DATA_SPARSE=true) pass through to the suite.
# Results (text report, results.yaml, junit.xml, report.html and the server logs) go to
# $OCI_RESULTS (default: a new directory under /tmp), outside the clone.
#
#   tests/with-postgres.sh tests/oci-conformance.sh
set -euo pipefail

: "${DATABASE_URL:?run under tests/with-postgres.sh (or set DATABASE_URL to a cluster where databases may be created)}"
wharf="${WHARF_BIN:-${CARGO_TARGET_DIR:?}/debug/wharf}"
out="${OCI_RESULTS:-$(mktemp -d -t wharf-oci-conformance-XXXXXX)}"
mkdir -p "$out"

suite="${OCI_CONFORMANCE_BIN:-}"
if [ -z "$suite" ]; then
    src="${OCI_CONFORMANCE_SRC:?set OCI_CONFORMANCE_BIN or OCI_CONFORMANCE_SRC}"
    suite="$out/oci-conformance"
    (cd "$src" && go build -o "$suite" .)
fi

s3s=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
[ -x "$s3s" ] || { echo "s3s-fs is missing: just s3s-fs" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# A database of its own on the same cluster: same URL, another database name.
database() {
    local name=$1
    psql -q "$DATABASE_URL" -c "create database $name" >/dev/null
    python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$DATABASE_URL" "$name"
}

failed=0
for storage in fs s3; do
    dir="$out/$storage"
    mkdir -p "$dir"
    url=$(database "oci_conformance_$storage")
    args=()
    if [ "$storage" = s3 ]; then
        s3port=$(free_port)
        mkdir -p "$dir/s3/wharf"
        "$s3s" --host 127.0.0.1 --port "$s3port" --access-key conformance-ak \
            --secret-key conformance-sk "$dir/s3" >"$dir/s3s-fs.log" 2>&1 &
        pids+=($!)
        args=(--storage s3 --s3-endpoint "http://127.0.0.1:$s3port" --s3-bucket wharf
              --s3-access-key-id conformance-ak --s3-secret-access-key conformance-sk --s3-path-style)
    fi
    run() { DATABASE_URL="$url" WHARF_DATA_DIR="$dir/data" RUST_LOG=warn "$wharf" "$@"; }
    run migrate >/dev/null
    run admin create-org --slug conformance --name Conformance --owner-email owner@conformance.test \
        --owner-password "conformance-$(date +%s)-owner" >/dev/null
    token=$(run admin create-token --org conformance --email owner@conformance.test --name suite | tail -n1)
    port=$(free_port)
    run serve --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" "${args[@]}" \
        >"$dir/wharf.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break
        sleep 0.1
    done
    status=0
    OCI_REGISTRY="127.0.0.1:$port" OCI_TLS=disabled \
        OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2 \
        OCI_USERNAME=suite OCI_PASSWORD="$token" OCI_RESULTS_DIR="$dir" \
        "$suite" >"$dir/report.txt" 2>"$dir/suite.log" || status=$?
    echo "== $storage storage: $(grep -m1 'OCI Conformance Result' "$dir/report.txt" || echo 'no result')"
    sed -n '/OCI Conformance Result/,/Total/p' "$dir/report.txt" | tail -n +2
    [ "$status" -eq 0 ] || failed=1
done
echo "results: $out"
exit "$failed"
