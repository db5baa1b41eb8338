#!/usr/bin/env bash
# Every benchmark in its smoke mode (tiny counts): checks that each still
# runs and that the pipeline it measures works. Exits non-zero on failure.
#
#   bench/run_smoke.sh
#   DISTLOG_BIN_DIR=$PWD/target/debug bench/run_smoke.sh   # other binaries
#
# Binaries come from $DISTLOG_BIN_DIR (default target/release, built here if
# missing); Python from $PYTHON, else .venv/bin/python, else python3 (it
# needs pyzmq for the reference receiver).
set -uo pipefail
cd "$(dirname "$0")/.."

export DISTLOG_BIN_DIR="${DISTLOG_BIN_DIR:-$PWD/target/release}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

missing=0
for b in distlogd distlog distlog-loadgen; do
  [ -x "$DISTLOG_BIN_DIR/$b" ] || missing=1
done
if [ "$missing" = 1 ]; then
  if [ "$DISTLOG_BIN_DIR" = "$PWD/target/release" ]; then
    echo "bench smoke: building distlogd, distlog and distlog-loadgen (release)" >&2
    # The build links the system libzmq (.cargo/config.toml): install it first.
    scripts/bootstrap.sh >&2 || exit 1
    cargo build --release --quiet -p distlogd -p distlog-cli -p distlog-loadgen || exit 1
  else
    echo "bench smoke: distlogd, distlog or distlog-loadgen missing in $DISTLOG_BIN_DIR" >&2
    exit 1
  fi
fi
if ! "$PYTHON" -c 'import zmq' 2>/dev/null; then
  echo "bench smoke: $PYTHON has no pyzmq (run scripts/bootstrap.sh, or set PYTHON)" >&2
  exit 1
fi

passed=0
failed=0
run() {
  local name=$1
  shift
  printf '\n== bench smoke: %s\n' "$name" >&2
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "-- $name: ok ($((SECONDS - t0)) s)" >&2
  else
    failed=$((failed + 1))
    echo "-- $name: FAILED" >&2
  fi
}

run ingest "$PYTHON" bench/ingest/run.py --smoke
run tail-rules "$PYTHON" bench/ingest/tail.py --smoke
run query "$PYTHON" bench/query/run.py --smoke
run memory "$PYTHON" bench/memory/run.py --smoke
run federation "$PYTHON" bench/federation/run.py --smoke
run crash "$PYTHON" bench/crash/run.py --smoke
if [ -f bench/client/python_client.py ]; then
  run python-client "$PYTHON" bench/client/python_client.py --smoke
fi
if [ -f bench/client/levels.py ]; then
  run levels "$PYTHON" bench/client/levels.py --smoke
fi
run tight-loop "$PYTHON" bench/client/tight_loop.py --smoke
# Through NATS JetStream (scripts/bootstrap.sh installs nats-server).
if command -v nats-server >/dev/null; then
  run jetstream "$PYTHON" bench/jetstream/run.py --smoke
else
  echo "bench smoke: no nats-server; skipping the JetStream benchmark" >&2
fi
run otlp "$PYTHON" bench/otlp/run.py --smoke
# The web UI in headless Chromium (scripts/test.sh installs it).
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  run ui "$PYTHON" bench/ui/run.py --smoke
  run ui-trees "$PYTHON" bench/ui/trees.py --smoke
else
  echo "bench smoke: no chromium/chromedriver; skipping the web UI benchmark" >&2
fi
# The Rust client's criterion benches, once each (criterion's test mode).
if compgen -G 'crates/client/benches/*.rs' >/dev/null; then
  run rust-client cargo test --quiet -p distlog --benches
fi

echo
echo "benchmarks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
