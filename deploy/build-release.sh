#!/usr/bin/env bash
# The one release build of the `wharf` binary: the container image (deploy/Dockerfile) runs
# exactly this, and CI (.ci/run) runs it too, so the image's build step cannot rot unnoticed.
# Needs no database: SQL is checked against the committed .sqlx/ data.
set -euo pipefail
export SQLX_OFFLINE=true
exec cargo build --release --locked -p wharf-server --bin wharf "$@"
