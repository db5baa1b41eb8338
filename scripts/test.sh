#!/usr/bin/env bash
# Every check and test: formatting, lints, Rust unit and integration tests,
# the Python client's tests, end-to-end tests, and the benchmarks' smoke mode.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's Chromium and its driver, for the web UI's browser tests.
scripts/bootstrap.sh chromium:chromium chromium-driver:chromedriver

step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "python lint"
.venv/bin/ruff check python tests bench examples
.venv/bin/ruff format --check python tests bench
.venv/bin/mypy python/src
step "cargo build"
cargo build --workspace --quiet
step "cargo test"
cargo test --workspace --quiet 2>&1
step "pytest: the Python client"
.venv/bin/python -m pytest -q python/tests
step "pytest: end to end (Python client, distlogd, distlog CLI, web UI in Chromium)"
DISTLOG_BIN_DIR="$PWD/target/debug" .venv/bin/python -m pytest -q tests
step "benchmarks, smoke mode"
DISTLOG_BIN_DIR="$PWD/target/debug" bench/run_smoke.sh
