"""Queries across collectors (issue 15): real distlogd processes, each with its
own store, fed by the real Python client; a front distlogd with `peers`
answers as one daemon holding every record would (a reference daemon that
got a copy of each record says what that is).
"""

from __future__ import annotations

import json
import queue
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import BIN_DIR, PATIENCE, Daemon, run_python

# A tutorial-like program: every record goes to its collector and to the
# reference daemon. With a third endpoint, the task is split: the first
# half goes to one collector, the rest (after a "failover") to another.
PROGRAM = """
import logging, sys
import distlog

name, collector, reference = sys.argv[1], sys.argv[2], sys.argv[3]
second = sys.argv[4] if len(sys.argv) > 4 else None
logger = logging.getLogger()
logger.setLevel(logging.INFO)

def attach(endpoint):
    h = distlog.ZmqHandler(endpoint)
    h.setFormatter(distlog.JSONFormatter())
    logger.addHandler(h)
    return h

ref = attach(reference)
here = attach(collector)
with distlog.task(name, user='leo') as job:
    logger.info('into %s', name)
    with distlog.to('first part', arg=42) as sub:
        logger.info('work of %s', name)
        sub.success('first part done')
    if second:
        logger.removeHandler(here)
        here.close()
        here = attach(second)
    with distlog.to('second part') as sub:
        logger.warning('careful in %s', name)
        sub.success('second part done')
    logger.info('all done in %s', name)
here.close()
ref.close()
"""

# Records each run of PROGRAM sends: open, info, (open, info, close),
# (open, warning, close), info, close.
PER_TASK = 10


def get(daemon: Daemon, path: str) -> Any:
    with urllib.request.urlopen(daemon.server + path, timeout=PATIENCE) as r:
        return json.load(r)


def get_error(daemon: Daemon, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(daemon.server + path, timeout=PATIENCE) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def without(v: Any, *keys: str) -> Any:
    """`v` without the given keys at any depth."""
    if isinstance(v, dict):
        return {k: without(x, *keys) for k, x in v.items() if k not in keys}
    if isinstance(v, list):
        return [without(x, *keys) for x in v]
    return v


def front_config(tmp_path: Path, *peers: Daemon) -> Path:
    """A pure query front: no store, no sinks, only peers."""
    path = tmp_path / "front.yml"
    path.write_text("peers:\n" + "".join(f"  - {p.server}\n" for p in peers))
    return path


class Fleet:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.a = Daemon(tmp_path / "a")
        self.b = Daemon(tmp_path / "b")
        self.ref = Daemon(tmp_path / "ref")
        self.front = Daemon(tmp_path / "front", "--config", str(front_config(tmp_path, self.a, self.b)))
        self.daemons = [self.front, self.a, self.b, self.ref]

    def run(self, name: str, *endpoints: str) -> None:
        run_python(self.tmp, "program.py", PROGRAM, name, *endpoints)

    def stop(self) -> None:
        for d in self.daemons:
            d.stop()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path)
    try:
        f.run("job on a", f.a.intake, f.ref.intake)
        f.run("job on b", f.b.intake, f.ref.intake)
        # Split: the root opens on a, its second part and close reach b.
        f.run("split job", f.a.intake, f.ref.intake, f.b.intake)
        f.a.wait_stored(PER_TASK + 5)
        f.b.wait_stored(PER_TASK + 5)
        f.ref.wait_stored(3 * PER_TASK)
        yield f
    finally:
        f.stop()


def root_of(daemon: Daemon, name: str) -> str:
    tasks = get(daemon, "/api/tasks")["tasks"]
    return next(t["root"] for t in tasks if t["message"] == name)


def test_the_front_lists_every_collectors_tasks_as_one_daemon_would(fleet: Fleet) -> None:
    front = get(fleet.front, "/api/tasks")
    assert front["partial"] is False
    assert [p["state"] for p in front["peers"]] == ["no_store", "ok", "ok"]
    ref = get(fleet.ref, "/api/tasks")["tasks"]
    assert without(front["tasks"], "last_seen") == without(ref, "last_seen")
    split = next(t for t in front["tasks"] if t["message"] == "split job")
    assert split["status"] == "succeeded" and split["records"] == PER_TASK
    # Neither collector alone has it whole.
    assert get(fleet.a, f"/api/tasks/{split['root']}")["status"] in ("running", "unfinished")
    # The limit holds across peers, newest first.
    two = get(fleet.front, "/api/tasks?limit=2")["tasks"]
    assert [t["message"] for t in two] == ["split job", "job on b"]
    older = get(fleet.front, "/api/tasks?limit=2&offset=2")["tasks"]
    assert [t["message"] for t in older] == ["job on a"]
    assert get(fleet.front, "/api/tasks?text=split")["tasks"][0]["root"] == split["root"]
    # Only reads fan out: a POST is the front's own to refuse.
    post = urllib.request.Request(fleet.front.server + "/api/tasks", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(post, timeout=PATIENCE)
    assert refused.value.code == 405
    one = get(fleet.front, f"/api/tasks/{split['root']}")
    assert without(one, "last_seen", "peers", "partial") == without(split, "last_seen")


def test_a_task_split_across_two_collectors_is_one_tree(fleet: Fleet) -> None:
    root = root_of(fleet.ref, "split job")
    ref = get(fleet.ref, f"/api/tree/{root}")
    front = get(fleet.front, f"/api/tree/{root}")
    assert front["partial"] is False
    assert without(front, "id", "peers", "partial") == without(ref, "id")
    # Each collector has only its part.
    parts = [get(d, f"/api/tree/{root}")["records"] for d in (fleet.a, fleet.b)]
    assert sum(parts) == PER_TASK and 0 not in parts
    # The paged calls agree with the reference too.
    skel = get(fleet.front, f"/api/skeleton/{root}")
    assert without(skel, "peers", "partial") == get(fleet.ref, f"/api/skeleton/{root}")
    pages, after = [], ""
    while True:
        page = get(fleet.front, f"/api/scope/{root}?limit=2{after}")
        pages.extend(page["records"])
        if "next" not in page:
            break
        after = f"&after={page['next']}"
    whole = get(fleet.ref, f"/api/scope/{root}?limit=100")["records"]
    assert [r["key"] for r in pages] == [r["key"] for r in whole]
    # Where a key on the second collector sits, in the merged order.
    key = whole[-1]["key"]
    path = get(fleet.front, f"/api/path/{key}")
    ref_path = get(fleet.ref, f"/api/path/{key}")
    assert path["offset"] == ref_path["offset"] == len(whole) - 1
    assert path["scopes"] == ref_path["scopes"]
    page = get(fleet.front, f"/api/scope/{root}?limit=1&after={path['cursor']}")
    assert page["records"][0]["key"] == key
    # A record's id from the front leads back to its collector.
    rid = pages[-1]["id"]
    assert get(fleet.front, f"/api/records/{rid}")["key"] == pages[-1]["key"]


def test_a_tree_on_one_collector_passes_through_with_the_fronts_ids(fleet: Fleet) -> None:
    root = root_of(fleet.ref, "job on b")
    front = get(fleet.front, f"/api/tree/{root}")
    assert without(front, "id", "peers", "partial") == without(get(fleet.ref, f"/api/tree/{root}"), "id")
    assert [p["state"] for p in front["peers"]] == ["no_store", "not_found", "ok"]
    opening = front["scope"]["entries"][0]
    own = get(fleet.b, f"/api/records/{opening['key']}")
    assert opening["id"] != own["id"]
    assert get(fleet.front, f"/api/records/{opening['id']}")["id"] == opening["id"]
    assert get(fleet.front, f"/api/records/{opening['id']}")["message"] == "job on b"


def test_records_and_search_are_the_union_newest_first(fleet: Fleet) -> None:
    front = get(fleet.front, "/api/records?limit=1000")
    ref = get(fleet.ref, "/api/records?limit=1000")["records"]
    assert [(r["key"], r["message"]) for r in front["records"]] == [(r["key"], r["message"]) for r in ref]
    assert len({r["id"] for r in front["records"]}) == 3 * PER_TASK
    found = get(fleet.front, "/api/records?q=careful")["records"]
    assert sorted(r["message"] for r in found) == [
        "careful in job on a",
        "careful in job on b",
        "careful in split job",
    ]
    filtered = get(fleet.front, "/api/records?filter=level%3E%3DWARNING&limit=2")
    assert len(filtered["records"]) == 2 and filtered["scanned"] >= 2
    # Paging on by the front's ids: the rest, none twice.
    first = get(fleet.front, "/api/records?limit=12")["records"]
    rest = get(fleet.front, f"/api/records?limit=1000&before={first[-1]['id']}")["records"]
    assert [r["key"] for r in first + rest] == [r["key"] for r in ref]


def test_the_cli_shows_the_union(fleet: Fleet) -> None:
    root = root_of(fleet.ref, "split job")
    for args in (["tasks"], ["tree", root], ["tree", root[:8]], ["search", "careful"]):
        front = fleet.front.cli("--color", "never", *args).stdout
        ref = fleet.ref.cli("--color", "never", *args).stdout
        assert front == ref, args
        assert front.strip()
    assert "split job" in fleet.front.cli("tasks").stdout


def test_a_peer_killed_gives_a_partial_answer_marked_and_counted(fleet: Fleet) -> None:
    fleet.b.proc.kill()
    fleet.b.proc.wait(timeout=PATIENCE)
    front = get(fleet.front, "/api/tasks")
    assert front["partial"] is True
    down = next(p for p in front["peers"] if p["peer"] == fleet.b.server)
    assert down["state"] == "down" and down["error"]
    assert "job on a" in [t["message"] for t in front["tasks"]]
    assert "job on b" not in [t["message"] for t in front["tasks"]]
    root = root_of(fleet.ref, "job on b")
    status, answer = get_error(fleet.front, f"/api/tree/{root}")
    assert status == 404 and answer["partial"] is True
    stats = get(fleet.front, "/api/stats")["federation"]
    peer = next(p for p in stats["peers"] if p["peer"] == fleet.b.server)
    assert peer["failed"] >= 2 and stats["partial"] >= 2
    text = fleet.front.cli("stats").stdout
    assert "store       none" in text and "peers       2 " in text
    [b_line] = [line for line in text.splitlines() if line.strip().startswith(fleet.b.server)]
    assert re.search(r"\b[1-9][0-9]* failed", b_line), b_line
    metrics = urllib.request.urlopen(fleet.front.server + "/metrics", timeout=PATIENCE).read().decode()
    assert f'distlog_peer_failures_total{{peer="{fleet.b.server}"}}' in metrics
    assert metrics.rstrip().endswith("# EOF")


def silent_server() -> tuple[socket.socket, str]:
    """A peer that takes connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s, f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_slow_peer_times_out_and_the_answer_goes_out_without_it(tmp_path: Path) -> None:
    a = Daemon(tmp_path / "a")
    silent, url = silent_server()
    front = Daemon(tmp_path / "front", "--peer", a.server, "--peer", url, "--peer-timeout", "1")
    try:
        run_python(tmp_path, "program.py", PROGRAM, "job", a.intake, a.intake)
        a.wait_stored(2 * PER_TASK)
        answer = get(front, "/api/tasks")
        assert answer["partial"] is True
        assert [p["state"] for p in answer["peers"]] == ["ok", "ok", "timeout"]
        # The front's own store is empty; a's task shows once.
        assert [t["message"] for t in answer["tasks"]] == ["job"]
        assert get(front, "/api/stats")["federation"]["peers"][1]["timed_out"] >= 1
    finally:
        front.stop()
        a.stop()
        silent.close()


def test_peer_flags_alone_make_a_config_without_sinks_a_query_front(tmp_path: Path) -> None:
    config = tmp_path / "front.yml"
    config.write_text("sinks: {}\n")
    check = [str(BIN_DIR / "distlogd"), "--check-config", str(config)]
    alone = subprocess.run(check, capture_output=True, text=True, timeout=PATIENCE)
    assert "no sinks configured" in alone.stderr, alone.stderr
    a = Daemon(tmp_path / "a")
    front = None
    try:
        with_peer = subprocess.run(
            [*check, "--peer", a.server], capture_output=True, text=True, timeout=PATIENCE
        )
        assert "no sinks configured" not in with_peer.stderr, with_peer.stderr
        front = Daemon(tmp_path / "front", "--config", str(config), "--peer", a.server)
        run_python(tmp_path, "program.py", PROGRAM, "job", a.intake, a.intake)
        a.wait_stored(2 * PER_TASK)
        answer = get(front, "/api/tasks")
        assert [t["message"] for t in answer["tasks"]] == ["job"]
        assert [p["state"] for p in answer["peers"]][-1] == "ok"
        # A front stores nothing of its own: what it lists came from a.
        assert not (tmp_path / "front").exists()
    finally:
        if front is not None:
            front.stop()
        a.stop()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def test_peers_pointing_at_each_other_do_not_recurse(tmp_path: Path) -> None:
    pa, pb = free_port(), free_port()
    a = Daemon(tmp_path / "a", "--peer", f"http://127.0.0.1:{pb}", http=f"127.0.0.1:{pa}")
    b = Daemon(tmp_path / "b", "--peer", f"http://127.0.0.1:{pa}", http=f"127.0.0.1:{pb}")
    try:
        run_python(tmp_path, "program.py", PROGRAM, "on a", a.intake, a.intake)
        run_python(tmp_path, "program.py", PROGRAM, "on b", b.intake, b.intake)
        a.wait_stored(2 * PER_TASK)
        b.wait_stored(2 * PER_TASK)
        # a asks b, which answers from its own store only (and the other way).
        for d in (a, b):
            answer = get(d, "/api/tasks")
            assert sorted(t["message"] for t in answer["tasks"]) == ["on a", "on b"], d.server
            assert [t["records"] for t in answer["tasks"]] == [2 * PER_TASK] * 2
            assert answer["partial"] is False
        # b was asked by a once (for a's list) and asked a once itself:
        # neither passed the other's request on.
        assert get(a, "/api/stats")["federation"]["peers"][0]["asked"] == 1
        assert get(b, "/api/stats")["federation"]["peers"][0]["asked"] == 1
    finally:
        a.stop()
        b.stop()


def test_a_peer_that_is_the_daemon_itself_is_skipped(tmp_path: Path) -> None:
    # The daemon's own address, spelt as a peer: found out by the answer.
    first = Daemon(tmp_path / "probe")
    url = first.server
    first.stop()
    d = Daemon(tmp_path / "d", "--peer", url, http=url.split("//")[1])
    try:
        run_python(tmp_path, "program.py", PROGRAM, "alone", d.intake, d.intake)
        d.wait_stored(2 * PER_TASK)
        answer = get(d, "/api/tasks")
        assert [p["state"] for p in answer["peers"]] == ["ok", "looped"]
        assert [t["records"] for t in answer["tasks"]] == [2 * PER_TASK]
        assert answer["partial"] is False
    finally:
        d.stop()


def test_the_live_feed_merges_every_collectors_feed(fleet: Fleet) -> None:
    seen: list[str] = []
    connected = threading.Event()

    def follow() -> None:
        with urllib.request.urlopen(fleet.front.server + "/api/feed", timeout=PATIENCE) as r:
            connected.set()
            for raw in r:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:])["message"])
                    if {"all done in live a", "all done in live b"} <= set(seen):
                        return

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    assert connected.wait(PATIENCE)
    # The front's readers subscribe to each peer's feed once the front
    # answered; send until both collectors' records come through.
    deadline = time.monotonic() + PATIENCE
    while t.is_alive() and time.monotonic() < deadline:
        fleet.run("live a", fleet.a.intake, fleet.ref.intake)
        fleet.run("live b", fleet.b.intake, fleet.ref.intake)
        t.join(1.0)
    assert not t.is_alive(), seen
    assert "careful in live a" in seen and "careful in live b" in seen


def test_distlog_tail_follows_every_collector_through_the_front(fleet: Fleet) -> None:
    tail = subprocess.Popen(
        [str(BIN_DIR / "distlog"), "--server", fleet.front.server, "tail", "-f", "-n", "3", "level>=WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert tail.stdout is not None
        for line in tail.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        # The latest three warnings, from both collectors, newest last.
        first = [lines.get(timeout=PATIENCE) for _ in range(3)]
        assert ["job on a" in first[0], "job on b" in first[1], "split job" in first[2]] == [True] * 3, first
        # Then the live feed: records that reach either collector show.
        want = {"careful in live a", "careful in live b"}
        got: set[str] = set()
        deadline = time.monotonic() + PATIENCE
        while not want <= got and time.monotonic() < deadline:
            fleet.run("live a", fleet.a.intake, fleet.ref.intake)
            fleet.run("live b", fleet.b.intake, fleet.ref.intake)
            try:
                while True:
                    line = lines.get(timeout=1.0)
                    got |= {w for w in want if w in line}
                    assert "info" not in line.lower() or "careful" in line, line
            except queue.Empty:
                pass
        assert want <= got
    finally:
        tail.kill()
        tail.wait(timeout=PATIENCE)


def test_the_live_feed_goes_on_without_a_dead_peer(fleet: Fleet) -> None:
    fleet.b.proc.kill()
    fleet.b.proc.wait(timeout=PATIENCE)
    seen: list[str] = []

    def follow() -> None:
        with urllib.request.urlopen(fleet.front.server + "/api/feed", timeout=PATIENCE) as r:
            for raw in r:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:])["message"])
                    if "all done in still a" in seen:
                        return

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    deadline = time.monotonic() + PATIENCE
    while t.is_alive() and time.monotonic() < deadline:
        fleet.run("still a", fleet.a.intake, fleet.ref.intake)
        t.join(1.0)
    assert not t.is_alive(), seen
    peers = get(fleet.front, "/api/stats")["federation"]["peers"]
    assert next(p for p in peers if p["peer"] == fleet.b.server)["failed"] >= 1


# Review fixes (fix-fed): deep tasks, limits, cursors, redirects, offsets.

# A task nested DEPTH scopes deep: past serde_json's default nesting limit
# of 128 once a tree's node, entries and record levels are counted. With a
# third endpoint, the deepest scope's records and every close go there.
DEEP = """
import logging, sys
from contextlib import ExitStack
import distlog

depth, first = int(sys.argv[1]), sys.argv[2]
second = sys.argv[3] if len(sys.argv) > 3 else None
logger = logging.getLogger()
logger.setLevel(logging.INFO)
h = distlog.ZmqHandler(first)
h.setFormatter(distlog.JSONFormatter())
logger.addHandler(h)
with ExitStack() as stack:
    stack.enter_context(distlog.task('deep job'))
    for level in range(depth):
        stack.enter_context(distlog.to('level %d' % level))
    if second:
        logger.removeHandler(h)
        h.close()
        h = distlog.ZmqHandler(second)
        h.setFormatter(distlog.JSONFormatter())
        logger.addHandler(h)
    logger.info('at the bottom')
h.close()
"""
DEPTH = 70


def levels(skeleton_scope: Any) -> int:
    n = 0
    node = skeleton_scope
    while node["children"]:
        node = node["children"][0]
        n += 1
    return n


def test_a_task_deeper_than_64_levels_reads_through_a_front(tmp_path: Path) -> None:
    a = Daemon(tmp_path / "a")
    b = Daemon(tmp_path / "b")
    front = Daemon(tmp_path / "front", "--config", str(front_config(tmp_path, a, b)))
    try:
        run_python(tmp_path, "deep.py", DEEP, str(DEPTH), a.intake)
        # Opens on a, the bottom record and every close on b: merged.
        run_python(tmp_path, "split.py", DEEP, str(DEPTH), a.intake, b.intake)
        # The task's and each level's open and close, and the bottom record.
        per_task = 2 * (DEPTH + 1) + 1
        a.wait_stored(per_task + DEPTH + 1)
        b.wait_stored(per_task - (DEPTH + 1))
        roots = [t["root"] for t in get(a, "/api/tasks")["tasks"]]
        assert len(roots) == 2
        whole, split = roots[1], roots[0]
        # One source holds it: passed through.
        skel = get(front, f"/api/skeleton/{whole}")
        assert skel["partial"] is False
        assert levels(skel["scope"]) == DEPTH
        assert without(skel, "partial", "peers") == get(a, f"/api/skeleton/{whole}")
        tree = get(front, f"/api/tree/{whole}")
        assert tree["partial"] is False and tree["records"] == per_task
        # Split across two: parsed and merged.
        skel = get(front, f"/api/skeleton/{split}")
        assert skel["partial"] is False
        assert levels(skel["scope"]) == DEPTH
        assert skel["scope"]["status"] == "succeeded"
        tree = get(front, f"/api/tree/{split}")
        assert tree["records"] == per_task
        assert tree["scope"]["status"] == "succeeded"
    finally:
        front.stop()
        a.stop()
        b.stop()


def test_a_task_offset_past_the_max_is_refused(fleet: Fleet) -> None:
    code, body = get_error(fleet.front, "/api/tasks?offset=18446744073709551615")
    assert code == 400
    assert "up to offset 10000" in body["error"]
    assert get(fleet.front, "/api/tasks?offset=10000")["tasks"] == []


def test_a_cursor_record_not_found_marks_the_page_partial(fleet: Fleet) -> None:
    # Source 1 (collector a), a record id it does not have: the other
    # collectors cannot be asked where to go on from, and the page says so.
    missing = 999_999 * 64 + 1
    page = get(fleet.front, f"/api/records?before={missing}")
    assert page["partial"] is True
    states = {p["peer"]: p for p in page["peers"]}
    assert states[fleet.a.server]["state"] == "ok"
    for other in ("local", fleet.b.server):
        assert states[other]["state"] == "error"
        assert "cursor" in states[other]["error"]


def redirecting_server(to: str) -> tuple[Any, str]:
    """A peer that answers every GET with a redirect to `to`."""
    import http.server

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_peers_redirect_is_not_followed(fleet: Fleet) -> None:
    server, url = redirecting_server(fleet.a.server)
    front = Daemon(fleet.tmp / "front2", "--peer", fleet.b.server, "--peer", url)
    try:
        answer = get(front, "/api/tasks")
        assert answer["partial"] is True
        assert [p["state"] for p in answer["peers"]] == ["ok", "ok", "error"]
        assert "redirect" in answer["peers"][2]["error"]
        # Only b's tasks (its part of the split job has no message): a's
        # were not fetched through the redirect.
        assert [t["message"] for t in answer["tasks"]] == [None, "job on b"]
    finally:
        front.stop()
        server.shutdown()


def test_feed_subscribers_past_the_limit_get_503(fleet: Fleet) -> None:
    import http.client

    host, port = fleet.front.server.removeprefix("http://").split(":")
    held = []
    try:
        for _ in range(32):
            c = http.client.HTTPConnection(host, int(port), timeout=PATIENCE)
            c.request("GET", "/api/feed")
            assert c.getresponse().status == 200
            held.append(c)
        # Only the status and headers are read: a feed let in never ends.
        extra = http.client.HTTPConnection(host, int(port), timeout=PATIENCE)
        held.append(extra)
        extra.request("GET", "/api/feed")
        refused = extra.getresponse()
        assert refused.status == 503
        assert "at most 32" in json.load(refused)["error"]
        assert get(fleet.front, "/api/stats")["federation"]["busy"] == 1
        assert "1 refused as busy" in fleet.front.cli("stats").stdout
        metrics = urllib.request.urlopen(fleet.front.server + "/metrics", timeout=PATIENCE).read().decode()
        assert "distlog_federation_busy_total 1" in metrics
    finally:
        for c in held:
            c.close()
