#!/usr/bin/env bash
# Shedu's benchmark harness in one command: `bash scripts/bench.sh [--quick]` (other flags pass
# through). Builds the server and the harness in one cargo invocation, so both share one feature
# resolution: built separately, each build recompiled the crates the other had just built
# (ring, rcgen, the Shedu crates), which took longer than a quick run itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shedu-target}"
cargo build --release --quiet -p shedu-api -p shedu-bench
# The CRL figures (--crls) publish in-process with the software engine the servers use.
export SHEDU_KEK="${SHEDU_KEK:-$(printf '5a%.0s' {1..32})}"
# The engines' figures (--engines) need a SoftHSM token and moto, prepared as scripts/test.sh does.
if [[ " $* " == *" --engines "* ]]; then
  moto_venv="$CARGO_TARGET_DIR/moto-venv"
  [ -x "$moto_venv/bin/moto_server" ] || { python3 -m venv "$moto_venv" && "$moto_venv/bin/pip" install --quiet 'moto[server]'; }
  export SHEDU_MOTO_SERVER="$moto_venv/bin/moto_server" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
  hsm="$CARGO_TARGET_DIR/bench-softhsm"
  rm -rf "$hsm" && mkdir -p "$hsm/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$hsm/tokens" > "$hsm/softhsm2.conf"
  export SOFTHSM2_CONF="$hsm/softhsm2.conf" SHEDU_BENCH_HSM_LABEL=shedu-bench SHEDU_BENCH_HSM_PIN_FILE="$hsm/pin"
  (umask 077 && printf '1234' > "$hsm/pin")
  softhsm2-util --init-token --free --label shedu-bench --pin 1234 --so-pin 5678 >/dev/null
fi
SHEDU_BENCH_SERVER="$CARGO_TARGET_DIR/release/shedu" exec "$CARGO_TARGET_DIR/release/shedu-bench" "$@"
