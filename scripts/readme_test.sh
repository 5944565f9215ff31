#!/usr/bin/env bash
# Runs the README's examples as a user would: every ```sh block from "## Try it" to the next "## "
# heading (its subsections included), in order, in one `bash -euo pipefail` shell, against a fresh
# Shedu (debug binary, empty data directory, a free port on 127.0.0.1), in an empty working
# directory. `localhost:8080` in the blocks is rewritten to that server's address. A block marked
# `<!-- readme-test: skip (why) -->` on the line before its fence is left out. Fails, naming the
# README line and block, on the first command that fails; the server is stopped in every case.
#
# Needs curl, jq, openssl and python3. Uses $SHEDU_BIN if set, else builds and runs
# $CARGO_TARGET_DIR/debug/shedu.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in curl jq openssl python3; do
  command -v "$tool" >/dev/null || { echo "readme_test: $tool not found" >&2; exit 1; }
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shedu-target}"
if [ -z "${SHEDU_BIN:-}" ]; then
  cargo build --bin shedu --quiet
  SHEDU_BIN="$CARGO_TARGET_DIR/debug/shedu"
fi
[ -x "$SHEDU_BIN" ] || { echo "readme_test: no Shedu binary at $SHEDU_BIN" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/shedu-readme.XXXXXX")
server_pid=
passed=
stop() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$passed" ]; then rm -rf "$work"; else echo "readme_test: files kept in $work" >&2; fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
address="127.0.0.1:$port"

# The script: line N of it is line N of README.md (a block's lines as they are, every other line
# empty), so bash's line numbers are README line numbers. Line 1 (the title, never in a block)
# holds the ERR trap; each block's opening fence line says which block runs.
python3 - README.md "$address" > "$work/readme.sh" <<'PY'
import re, sys

path, address = sys.argv[1], sys.argv[2]
lines = open(path, encoding="utf-8").read().split("\n")
try:
    start = lines.index("## Try it")
except ValueError:
    sys.exit(f"readme_test: no '## Try it' heading in {path}")
end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))

out = [""] * end
blocks = []  # (first line, last line), 1-based README line numbers
fence = None  # the open fence's info string and whether its block runs
for i in range(start, end):
    line = lines[i]
    match = re.match(r"^(`{3,})\s*([\w-]*)", line)
    if fence is None and match:
        previous = next((lines[j].strip() for j in range(i - 1, start, -1) if lines[j].strip()), "")
        runs = match.group(2) == "sh" and not previous.startswith("<!-- readme-test: skip")
        fence = (match.group(1), runs)
        if runs:
            blocks.append([i + 2, i + 1])
            out[i] = f"__readme_block={len(blocks)}"
        continue
    if fence is not None and line.startswith(fence[0]) and not line.strip("`").strip():
        fence = None
        continue
    if fence is not None and fence[1]:
        out[i] = line.replace("localhost:8080", address)
        blocks[-1][1] = i + 1
if fence is not None:
    sys.exit(f"readme_test: a code block in {path} is never closed")
if not blocks:
    sys.exit(f"readme_test: no ```sh blocks under '## Try it' in {path}")
if start == 0:
    sys.exit(f"readme_test: '## Try it' may not be the first line of {path}")
ranges = " ".join(f"{a}-{b}" for a, b in blocks)
out[0] = (
    f"__readme_block=0; __readme_ranges=({ranges}); "
    "trap '__readme_status=$?; echo \"readme_test: README.md line $LINENO (sh block $__readme_block of "
    f"{len(blocks)}, lines ${{__readme_ranges[__readme_block-1]}}) failed with exit status $__readme_status: "
    "$BASH_COMMAND\" >&2' ERR"
)
print("\n".join(out))
print(f"readme_test: {len(blocks)} blocks, README.md lines {ranges}", file=sys.stderr)
PY

mkdir "$work/data" "$work/run"
# The server sees none of the caller's SHEDU_* settings (a database URL, a config file, NATS).
unset_shedu=()
for name in $(compgen -e | grep '^SHEDU_' || true); do unset_shedu+=(-u "$name"); done
env "${unset_shedu[@]}" "$SHEDU_BIN" serve --data-dir "$work/data" --listen "$address" >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 300); do
  curl -sf "http://$address/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "readme_test: Shedu exited at start:" >&2; cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://$address/health" >/dev/null || { echo "readme_test: Shedu not healthy after 30 s" >&2; exit 1; }

# No request may hang the run: curl reads this file (and not the caller's ~/.curlrc).
printf 'max-time = 60\nconnect-timeout = 10\n' > "$work/.curlrc"

started=$(date +%s)
set +e
(cd "$work/run" && CURL_HOME="$work" timeout 600 bash -euo pipefail "$work/readme.sh") >"$work/output.log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "readme_test: the README examples failed (exit status $status); their output, last 60 lines:" >&2
  tail -n 60 "$work/output.log" >&2
  echo "readme_test: Shedu's log, last 20 lines:" >&2
  tail -n 20 "$work/server.log" >&2
  exit 1
fi
passed=1
echo "readme_test: README examples passed in $(( $(date +%s) - started ))s"
