#!/usr/bin/env bash
# Shedu's benchmark harness in one command: `bash scripts/bench.sh [--quick]` (other flags pass
# through). Builds the server and the harness in one cargo invocation, so both share one feature
# resolution: built separately, each build recompiled the crates the other had just built
# (ring, rcgen, the Shedu crates), which took longer than a quick run itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shedu-target}"
cargo build --release --quiet -p shedu-api -p shedu-bench
SHEDU_BENCH_SERVER="$CARGO_TARGET_DIR/release/shedu" exec "$CARGO_TARGET_DIR/release/shedu-bench" "$@"
