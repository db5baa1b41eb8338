#!/usr/bin/env bash
# Rebuilds schema_v2_loadgen.db: a single-file store of schema 2, written by
# distlogd as it was at commit 797f384 (the last one before the store was
# rewritten), for legacy_tests.rs to compare the old answers with the new.
#
# What goes in:
#   - distlog-loadgen (of 797f384): 3000 JSON records, 2 connections, tasks of
#     20 records, seed 7; then 100 pickle records, 1 connection, seed 8;
#   - a few records made by hand for edge cases (see EDGE below): a subtask
#     opened from another host that arrives before its root, unscoped records
#     (context null, no context, one with accents and an underscore word), a
#     failed root with exc_text, a root that succeeds with a failed subtask, a
#     root whose opening record never came, a root that never closes, a record
#     sent twice.
# Records carry the clock of the run (received; loadgen's created too), so a
# rebuild is alike in shape, not byte for byte.
#
# Needs: cargo, python3 (a throwaway venv gets pyzmq from PyPI), sqlite3.
# Usage: crates/store/src/testdata/make_schema_v2_fixture.sh   (from the repo)
set -euo pipefail

COMMIT=797f384
REPO=$(git rev-parse --show-toplevel)
OUT="$REPO/crates/store/src/testdata/schema_v2_loadgen.db"
OLD=${OLD_WORKTREE:-/tmp/distlog-$COMMIT}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/distlog-$COMMIT-target}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ ! -d "$OLD" ]; then
    git -C "$REPO" worktree add --detach "$OLD" "$COMMIT"
fi
(cd "$OLD" && cargo build --release -p distlogd -p distlog-loadgen)
BIN="$CARGO_TARGET_DIR/release"

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q pyzmq
PY="$WORK/venv/bin/python"

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
EP="tcp://127.0.0.1:$PORT"
DB="$WORK/old.db"

"$BIN/distlogd" --listen "$EP" --http 127.0.0.1:0 --store "$DB" 2>"$WORK/distlogd.log" &
DAEMON=$!

count() { sqlite3 "$DB" 'SELECT count(*) FROM records' 2>/dev/null || echo 0; }
wait_for() {
    for _ in $(seq 600); do
        [ "$(count)" -ge "$1" ] && return 0
        sleep 0.1
    done
    echo "distlogd stored $(count) records, not $1" >&2
    exit 1
}

"$BIN/distlog-loadgen" send --endpoint "$EP" --count 3000 --connections 2 \
    --task-records 20 --seed 7 >"$WORK/loadgen1.json"
wait_for 3000
"$BIN/distlog-loadgen" send --endpoint "$EP" --count 100 --connections 1 \
    --task-records 20 --seed 8 --encoding pickle >"$WORK/loadgen2.json"
wait_for 3100

# EDGE: records made by hand, sent as the Python client would (topic PLJ).
"$PY" - "$EP" <<'EDGE'
import json, sys, time, zmq

ctx = zmq.Context()
push = ctx.socket(zmq.PUSH)
push.connect(sys.argv[1])
T = 1_700_000_000.0

def send(message, created, key=None, host="edge-a", process=800, levelno=20,
         event=None, duration=None, exc_text=None, context=None, with_context=True):
    level = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR"}[levelno]
    body = {
        "name": "edge.cases", "msg": message, "args": None, "levelname": level,
        "levelno": levelno, "pathname": "/srv/edge/cases.py", "filename": "cases.py",
        "module": "cases", "exc_info": None, "exc_text": exc_text, "stack_info": None,
        "lineno": 7, "funcName": "run", "created": created, "msecs": 0.0,
        "relativeCreated": 1.0, "thread": 1, "threadName": "MainThread",
        "processName": "MainProcess", "process": process, "message": message,
        "hostname": host,
    }
    if with_context:
        ctx_obj = None if key is None else {"key": key, **(context or {})}
        body["context"] = ctx_obj
    if event:
        body["scope_event"] = event
    if duration is not None:
        body["scope_duration"] = duration
    push.send_multipart([b"PLJ", json.dumps(body).encode()])

TRACE = ("Traceback (most recent call last):\n  File \"/srv/edge/cases.py\", line 9, in run\n"
         "    settle()\nedge.LedgerError: ledger quarantined")

# A task continued on another host (import_task) whose subtask's records
# arrive before the root's opening record.
A = "0a0e0001-0000-4000-8000-000000000001"
send("remote step", T + 1.0, f"0@{A}/1", host="edge-b", process=900, event="open",
     context={"node": "b"})
send("remote zanzibar work", T + 1.1, f"1@{A}/1", host="edge-b", process=900)
send("remote step", T + 1.2, f"2@{A}/1", host="edge-b", process=900, event="close",
     duration=0.2)
send("continued task", T + 0.5, f"0@{A}", event="open", context={"user": "ana", "n": 3})
send("continued task", T + 1.5, f"1@{A}", event="close", duration=1.0)

# Unscoped records: context null, and no context at all.
send("unscoped zanzibar note", T + 2.0)
send("unscoped without context", T + 2.1, with_context=False, host="edge-c", process=1)
# Words with diacritics and with underscores, which tokenizers may split or fold.
send("paiement reçu à Zürich pour order_lines", T + 2.2)

# A root that fails, with an exception text.
B = "0a0e0002-0000-4000-8000-000000000002"
send("settle ledger", T + 3.0, f"0@{B}", event="open", context={"user": "kim"})
send("ledger step failed", T + 3.1, f"1@{B}", levelno=40, exc_text=TRACE)
send("settle ledger", T + 3.2, f"2@{B}", levelno=40, event="fail", duration=0.2,
     exc_text=TRACE)

# A root that succeeds although a subtask failed (failures > 0).
C = "0a0e0003-0000-4000-8000-000000000003"
send("reconcile", T + 4.0, f"0@{C}", event="open")
send("reconcile part", T + 4.1, f"0@{C}/1", event="open")
send("reconcile part", T + 4.2, f"1@{C}/1", levelno=40, event="fail", duration=0.1,
     exc_text=TRACE)
send("reconcile", T + 4.3, f"1@{C}", event="close", duration=0.3)

# A root whose opening record never came (filtered out by level).
D = "0a0e0004-0000-4000-8000-000000000004"
send("warning before close", T + 5.1, f"1@{D}", levelno=30)
send("closed without open", T + 5.2, f"2@{D}", event="close", duration=0.2)

# A root that never closes, and a record sent twice (a resend).
E = "0a0e0005-0000-4000-8000-000000000005"
send("still going", T + 6.0, f"0@{E}", host="edge-d", process=4, event="open")
send("sent twice", T + 6.1, f"1@{E}", host="edge-d", process=4)
send("sent twice", T + 6.1, f"1@{E}", host="edge-d", process=4)

push.close(linger=5000)
ctx.term()
EDGE
wait_for 3120

kill -TERM "$DAEMON"
wait "$DAEMON" || true
# One self-contained file: the WAL folded in, free pages dropped.
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
rm -f "$DB-wal" "$DB-shm"
cp "$DB" "$OUT"
echo "wrote $OUT: $(sqlite3 "$OUT" 'SELECT count(*) FROM records') records," \
    "$(sqlite3 "$OUT" 'SELECT count(*) FROM tasks') tasks, $(stat -c %s "$OUT") bytes"
