"""`distlog tree --scopes`: a task's scopes from its skeleton, no records."""

from __future__ import annotations

import subprocess
from pathlib import Path

from test_cli import caught_failure

from conftest import BIN_DIR, PATIENCE, Daemon


def test_tree_scopes_prints_the_scopes_with_their_counts_and_no_records(
    daemon: Daemon, tmp_path: Path
) -> None:
    root = caught_failure(daemon, tmp_path)
    whole = daemon.cli("tree", root).stdout
    assert "asking the bank" in whole
    out = daemon.cli("tree", root, "--scopes").stdout
    for scope in ("payment", "charge card", "receipt", "render"):
        assert scope in out, out
    assert "asking the bank" not in out and "falling back to invoice" not in out, out
    assert "failed" in out
    skel = daemon.cli_json("tree", root, "--scopes")
    assert skel["records"] == 11 and skel["scopes"] == 4
    assert skel["scope"]["failures"] == 1
    # Folded below the root, a line says how many records its branch holds.
    folded = daemon.cli("tree", root, "--scopes", "--depth", "0").stdout
    assert "5 records" in folded or "5 record" in folded, folded


def test_a_store_whose_scope_summaries_are_gone_answers_the_same_and_writes_them(tmp_path: Path) -> None:
    store = tmp_path / "store"
    d = Daemon(store)
    try:
        # Past a memtable's 65,536 records, so a segment (and its summary) is written.
        subprocess.run(
            [str(BIN_DIR / "distlog-loadgen"), "send", "--endpoint", d.intake, "--count", "70000"],
            check=True,
            capture_output=True,
            timeout=PATIENCE * 5,
        )
        d.wait_for("a segment", lambda s: s["store"]["segments"] >= 1 and s["store"]["durable"] >= 70000)
        roots = [t["root"] for t in d.cli_json("tasks", "-n", "5")["tasks"]]
        before = {root: d.cli_json("tree", root, "--scopes") for root in roots}
    finally:
        d.stop()
    summaries = list((store / "scopes").glob("*.scopes"))
    assert summaries, "each segment has its summary"
    for f in summaries:
        f.unlink()  # as a store from a build before summaries has none
    d = Daemon(store)
    try:
        assert {root: d.cli_json("tree", root, "--scopes") for root in roots} == before
        d.wait_for(
            "the missing summaries written", lambda s: s["store"]["summaries_written"] == len(summaries)
        )
        assert sorted(p.name for p in (store / "scopes").glob("*.scopes")) == sorted(
            p.name for p in summaries
        )
        assert {root: d.cli_json("tree", root, "--scopes") for root in roots} == before
    finally:
        d.stop()
