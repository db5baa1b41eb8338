"""`distlog tree --scopes`: a task's scopes from its skeleton, no records."""

from __future__ import annotations

from pathlib import Path

from test_cli import caught_failure

from conftest import Daemon


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
