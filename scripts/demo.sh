#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, start distlogd,
# run the tutorial's example unchanged, and print the tree it produced.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

echo "demo: building distlogd and distlog (release)" >&2
cargo build --release --quiet -p distlogd -p distlog-cli
bin=target/release
work=$(mktemp -d)
trap 'kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; rm -rf "$work"' EXIT

# The tutorial connects to tcp://localhost:5010, so the daemon listens there.
"$bin/distlogd" --listen 'tcp://*:5010' --http 127.0.0.1:5080 --store "$work/store" \
  2>"$work/distlogd.log" &
daemon=$!
for _ in $(seq 100); do
  "$bin/distlog" stats >/dev/null 2>&1 && break
  kill -0 "$daemon" 2>/dev/null || { cat "$work/distlogd.log" >&2; exit 1; }
  sleep 0.1
done

echo "demo: running examples/tutorial.py" >&2
.venv/bin/python examples/tutorial.py

for _ in $(seq 100); do
  stored=$("$bin/distlog" stats --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["store"]["stored"])')
  [ "$stored" -ge 7 ] && break
  sleep 0.1
done
echo >&2
echo "demo: distlog tree --last" >&2
"$bin/distlog" tree --last
