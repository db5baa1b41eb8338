#!/usr/bin/env bash
# Installs what distlog needs on a fresh Debian machine that has the Rust
# toolchain: Debian packages, rustfmt/clippy, and a Python venv (.venv) with
# the Python client and its test tools. Quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_missing=()
command -v python3 >/dev/null || apt_missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_missing+=(python3-venv)
command -v cc >/dev/null || apt_missing+=(build-essential)
# The system libzmq (with CURVE) that .cargo/config.toml links instead of
# zmq-sys's vendored one, which is built without it.
[ -e /usr/include/zmq.h ] || apt_missing+=(libzmq3-dev)
# NATS JetStream, for the jetstream sink's and source's tests and benchmark.
command -v nats-server >/dev/null || apt_missing+=(nats-server)
for pkg in "$@"; do
  # Extra packages a caller needs, given as package:command.
  command -v "${pkg#*:}" >/dev/null || apt_missing+=("${pkg%%:*}")
done
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${apt_missing[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

if command -v rustup >/dev/null; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for c in rustfmt clippy; do
    grep -q "^$c" <<<"$installed" || rustup component add "$c" >&2
  done
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.distlog-installed
want=$(cat python/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing the Python client and test tools into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e './python[test]'
  echo "$want" >"$stamp"
fi
