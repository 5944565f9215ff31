#!/usr/bin/env bash
# Shedu's whole test suite, from a fresh machine: installs and starts what the tests need, then
# runs format and lint checks, unit tests and the integration suite (SQLite and PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are slow on small machines: share one target directory between checkouts.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shedu-target}"
export SHEDU_TEST_PG_URL="${SHEDU_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
# openssl verifies Shedu's certificates independently of the code that made them; the README's
# examples (scripts/readme_test.sh) also need curl and jq.
# SoftHSM2 (a PKCS#11 token) and opensc's pkcs11-tool test the PKCS#11 engine on a real module.
missing=()
for tool in openssl curl jq; do command -v "$tool" >/dev/null || missing+=("$tool"); done
command -v softhsm2-util >/dev/null && [ -e /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null || missing+=(opensc)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash scripts/services.sh
# The relay tests run nats-servers of their own, to stop and restart them.
export SHEDU_NATS_SERVER="${SHEDU_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"

# pkilint (PyPI) lints every issued certificate against RFC 5280; kept in a virtualenv next to
# the build so it survives between runs and needs nothing installed system-wide.
venv="$CARGO_TARGET_DIR/pkilint-venv"
if [ ! -x "$venv/bin/lint_pkix_cert" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pkilint
fi
export SHEDU_PKILINT="$venv/bin/lint_pkix_cert"

# moto (PyPI) is the local AWS KMS endpoint the KMS engine's tests start, one per test.
moto_venv="$CARGO_TARGET_DIR/moto-venv"
if [ ! -x "$moto_venv/bin/moto_server" ]; then
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
fi
export SHEDU_MOTO_SERVER="$moto_venv/bin/moto_server"
# Credentials for moto, and no instance-metadata lookups from the AWS default chain.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true

# SoftHSM keeps the suite's tokens in a directory of its own, emptied on every run.
softhsm="$CARGO_TARGET_DIR/softhsm"
rm -rf "$softhsm" && mkdir -p "$softhsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
  "$softhsm/tokens" > "$softhsm/softhsm2.conf"
export SOFTHSM2_CONF="$softhsm/softhsm2.conf"

# Each test (and each benchmark run) makes its own database; drop those left behind.
psql "$SHEDU_TEST_PG_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'shedu_test_%' OR datname LIKE 'shedu_bench_%'" \
  | while read -r db; do psql "$SHEDU_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null; done

started=$(date +%s)
cargo fmt --all -- --check
# No file imports a file that imports it back (docs/adr/0013).
python3 scripts/import_cycles.py
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The integration suite also runs `shedu serve` as a process of its own (to kill it with SIGKILL).
cargo build --bin shedu --quiet
cargo test --workspace
# The README's examples, pasted in order against a fresh server, must work.
SHEDU_BIN="$CARGO_TARGET_DIR/debug/shedu" bash scripts/readme_test.sh
echo "test suite finished in $(( $(date +%s) - started ))s"
