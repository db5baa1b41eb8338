"""The web UI through a query front (issue 15), in a real headless Chromium:
a task split across two collectors shows as the one tree a daemon holding
every record shows, and a record's details come from the collector that
stored it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import test_web_ui
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from test_federation_e2e import PER_TASK, PROGRAM, front_config, get
from test_web_ui import has_row, outline, row, shot, task_rows, wait

from conftest import Daemon, run_python

browser = test_web_ui.browser
page = test_web_ui.page


class Split:
    def __init__(self, tmp_path: Path) -> None:
        self.a = Daemon(tmp_path / "a")
        self.b = Daemon(tmp_path / "b")
        self.ref = Daemon(tmp_path / "ref")
        self.front = Daemon(tmp_path / "front", "--config", str(front_config(tmp_path, self.a, self.b)))
        endpoints = (self.a.intake, self.ref.intake, self.b.intake)
        run_python(tmp_path, "program.py", PROGRAM, "split job", *endpoints)
        self.ref.wait_stored(PER_TASK)
        self.a.wait_stored(5)
        self.b.wait_stored(5)
        self.root = get(self.ref, "/api/tasks")["tasks"][0]["root"]

    def stop(self) -> None:
        for d in (self.front, self.a, self.b, self.ref):
            d.stop()


@pytest.fixture
def split(tmp_path: Path) -> Iterator[Split]:
    s = Split(tmp_path)
    yield s
    s.stop()


def test_the_ui_through_a_front_shows_a_split_task_as_one_tree(page: WebDriver, split: Split) -> None:
    page.get(split.front.server + "/")
    [task] = wait(
        page, "the task in the list", lambda d: [t for t in task_rows(d) if t["message"] == "split job"]
    )
    assert (task["status"], task["records"]) == ("succeeded", str(PER_TASK))

    trees = {}
    for name, daemon in (("ref", split.ref), ("front", split.front)):
        page.get(f"{daemon.server}/tasks/{split.root}")
        wait(page, f"the tree through {name}", has_row("split job", depth=0))
        row(page, "second part").click()
        wait(page, "the second part's records", has_row("careful in split job", kind="record", depth=2))
        trees[name] = outline(page)
        shot(page, f"federation-tree-{name}")
    assert trees["front"] == trees["ref"]
    assert (1, "scope", "first part") in trees["front"]

    # A link to a record the second collector holds: the path to it opens,
    # and its fields come from that collector by the front's id.
    page.get(f"{split.front.server}/tasks/1@{split.root}/2")
    wait(page, "the record, selected", has_row("careful in split job", kind="record", selected=True))
    wait(page, "its fields", lambda d: "funcName" in d.find_element(By.ID, "details-body").text)
    assert "careful in split job" in page.find_element(By.ID, "details-title").text
