"""Paged trees, the timeline and live trees (issue 14) in a real headless
Chromium against a real distlogd fed by the real Python client.

Screenshots are read back and checked here (a small PNG reader below: no
imaging library on the test machines); they also go to ``artifacts/ui/``.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import test_web_ui
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from test_web_ui import client_script, row, shot, tree_rows, visible_text, wait

from conftest import PATIENCE, Daemon, run_python

# The browser and page fixtures of the web UI tests, shared.
browser = test_web_ui.browser
page = test_web_ui.page

# As timeline.js draws them.
ROW_H = 18
AXIS_H = 22
LABEL_W = 260
RED = (0xD6, 0x28, 0x28)
GREEN = (0x2E, 0x9E, 0x52)


def get_json(daemon: Daemon, path: str) -> Any:
    with urllib.request.urlopen(daemon.server + path, timeout=PATIENCE) as r:
        return json.load(r)


def png_pixels(data: bytes) -> tuple[int, int, int, list[bytearray]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def bar_spans(png: bytes, rect: dict[str, float], n: int) -> list[dict[str, Any]]:
    """For each of the first ``n`` timeline rows: the x where its bar starts
    (None: no bar) and the bar's colour, read from a screenshot."""
    width, _, bpp, rows = png_pixels(png)
    out = []
    for i in range(n):
        y = int(rect["y"] + AXIS_H + i * ROW_H + ROW_H / 2)
        line = rows[y]
        found: dict[str, Any] = {"x": None, "colour": None}
        for x in range(int(rect["x"] + LABEL_W), min(width, int(rect["x"] + rect["width"]))):
            px = tuple(line[x * bpp : x * bpp + 3])
            if px in (RED, GREEN):
                found = {"x": x, "colour": "red" if px == RED else "green"}
                break
        out.append(found)
    return out


def steps_script(daemon: Daemon, steps: int, fail: int, big: int) -> str:
    return client_script(
        daemon,
        f"""
        with distlog.task('job'):
            for i in range({steps}):
                try:
                    with distlog.to('step %d' % i):
                        time.sleep(0.03)
                        if i == {fail}:
                            raise ValueError('boom')
                        logging.info('work of step %d', i)
                except ValueError:
                    pass
            with distlog.to('big'):
                for j in range({big}):
                    logging.info('line %d', j)
        """,
    )


def root_of(daemon: Daemon) -> str:
    tasks = daemon.cli_json("tasks")["tasks"]
    assert len(tasks) == 1, [(t["message"], t["records"]) for t in tasks]
    return str(tasks[0]["root"])


def test_a_paged_tree_paints_scopes_first_and_unfolds_a_scope_page_by_page(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    run_python(tmp_path, "steps.py", steps_script(daemon, steps=3, fail=1, big=230))
    # job open/close; steps of 3 records, the failing one 2; big: open, 230, close.
    whole_count = 2 + 3 + 2 + 3 + 232
    daemon.wait_stored(whole_count)
    root = root_of(daemon)
    page.get(f"{daemon.server}/tasks/{root}?paged=1&page=50")
    wait(page, "the skeleton", lambda d: any(r["message"] == "big" for r in tree_rows(d)))
    big_row = next(r for r in tree_rows(page) if r["message"] == "big")
    assert big_row["expanded"] == "false", "a succeeded scope starts folded"
    assert "no record of big yet", not any(r["message"].startswith("line ") for r in tree_rows(page))
    count = page.execute_script(
        "return document.querySelector('.trow.scope[data-scope$=\"/4\"] .count').textContent"
    )
    assert count == "232"

    page.find_element(By.CSS_SELECTOR, '.trow.scope[data-scope$="/4"]').click()
    wait(page, "the first page of big", lambda d: any(r["message"] == "line 0" for r in tree_rows(d)))
    shot(page, "paged-first-page")
    # The same lines, in the same order, as the whole tree gives.
    tree = get_json(daemon, f"/api/tree/{root}")
    big = next(e for e in tree["scope"]["entries"] if e["type"] == "scope" and e["message"] == "big")
    want = [e["message"] for e in big["entries"] if e["type"] == "record" and e["seq"] != 0]
    assert len(want) == 231
    # root; its 4 subscopes and closing record; the failed step, open by
    # default, with its failure record; big's records less its opening one.
    expected = 1 + 5 + 1 + len(want)

    def scrolled_to_the_end(d: WebDriver) -> bool:
        # Scrolling to the end reads every page in turn.
        d.execute_script("const s = document.querySelector('.tree-scroll'); s.scrollTop = s.scrollHeight;")
        n = d.execute_script(
            "return Number(document.querySelector('.tree-canvas').getAttribute('aria-rowcount'))"
        )
        return bool(n == expected)

    wait(page, "every page of big", scrolled_to_the_end)
    assert int(page.execute_script("return document.body.dataset.unfolded")) >= 5, "pages of 50"
    # Lines drawn top to bottom over the whole scroll: big's records as the whole tree has them.
    seen: list[str] = []
    height = page.execute_script("return document.querySelector('.tree-scroll').scrollHeight")
    for top in range(0, int(height) + 400, 400):
        page.execute_script("document.querySelector('.tree-scroll').scrollTop = arguments[0]", top)
        wait(
            page,
            "rows drawn",
            lambda d: d.execute_script(
                "return !!document.querySelector('.trow[data-row]') && "
                "Math.abs(Number(document.querySelector('.trow[data-row]')"
                ".style.transform.match(/[0-9.]+/)[0]) - "
                "document.querySelector('.tree-scroll').scrollTop) < 800"
            ),
        )
        for r in tree_rows(page):
            mine = r["depth"] == 2 and r["kind"] == "record" and (r["key"] or "").endswith("/4")
            if mine and r["key"] not in seen:
                seen.append(r["key"])
    keys = [e["key"] for e in big["entries"] if e["type"] == "record" and e["seq"] != 0]
    assert seen == keys
    rows = tree_rows(page)
    assert [(r["kind"], r["message"]) for r in rows[-3:]] == [
        ("record", "line 229"),
        ("record", "big"),
        ("record", "job"),
    ]


def test_a_cut_skeleton_loads_subscopes_when_a_scope_is_unfolded(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    # job > 3 batches > 3 items each > one part each, all succeeded.
    script = client_script(
        daemon,
        """
        with distlog.task('job'):
            for b in range(3):
                with distlog.to('batch %d' % b):
                    for i in range(3):
                        with distlog.to('item %d.%d' % (b, i)):
                            with distlog.to('part %d.%d' % (b, i)):
                                logging.info('work %d.%d', b, i)
        """,
    )
    run_python(tmp_path, "nested.py", script)
    # job, 3 batches, 9 items, 9 parts: open and close each, 9 records.
    daemon.wait_stored(2 * (1 + 3 + 9 + 9) + 9)
    root = root_of(daemon)
    # Two levels and two scopes of each: batch 2, the items 2 and the
    # parts come later.
    page.get(f"{daemon.server}/tasks/{root}?paged=1&children=2")
    wait(page, "the top of the skeleton", lambda d: any(r["message"] == "batch 1" for r in tree_rows(d)))
    # The "1 more scope" line below the root is on screen: batch 2 is read.
    wait(page, "the root's third batch", lambda d: any(r["message"] == "batch 2" for r in tree_rows(d)))
    loaded = int(page.execute_script("return Number(document.body.dataset.subscopesLoaded || 0)"))
    assert loaded >= 1, "batch 2 came with a call of its own"

    row(page, "batch 0").click()
    wait(page, "batch 0's items", lambda d: any(r["message"] == "item 0.2" for r in tree_rows(d)))
    assert not any(r["message"] == "part 0.0" for r in tree_rows(page)), "item 0.0 is folded"
    item = row(page, "item 0.0")
    skel = get_json(daemon, f"/api/skeleton/{root}")
    item00 = skel["scope"]["children"][0]["children"][0]
    # Its own opening and closing records and its part's three.
    assert item00["total_records"] == 5
    assert item.find_element(By.CSS_SELECTOR, ".count").text == "5", "the branch's records, cut or not"
    item.click()
    wait(page, "item 0.0's own scope", lambda d: any(r["message"] == "part 0.0" for r in tree_rows(d)))
    assert int(page.execute_script("return Number(document.body.dataset.subscopesLoaded)")) > loaded
    shot(page, "paged-cut-unfolded")
    # What is drawn is the whole skeleton's: item 0.0's scopes in order.
    assert [c["message"] for c in item00["children"]] == ["part 0.0"]
    rows = [(r["depth"], r["message"]) for r in tree_rows(page)]
    at = rows.index((2, "item 0.0"))
    assert rows[at + 1] == (3, "part 0.0"), rows


def test_the_timeline_draws_bars_by_start_time_and_a_failed_scope_red(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    run_python(tmp_path, "steps.py", steps_script(daemon, steps=4, fail=2, big=3))
    daemon.wait_stored(2 + 3 + 3 + 2 + 3 + 5)
    root = root_of(daemon)
    page.get(f"{daemon.server}/tasks/{root}")
    wait(page, "the tree", lambda d: any(r["message"] == "big" for r in tree_rows(d)))
    page.find_element(By.CSS_SELECTOR, '[data-action="timeline"]').click()
    wait(page, "the timeline", lambda d: d.execute_script("return document.body.dataset.timelineDrawn"))
    rect = page.execute_script(
        "const r = document.querySelector('.timeline-canvas').getBoundingClientRect();"
        "return {x: r.x, y: r.y, width: r.width, height: r.height};"
    )
    png = page.get_screenshot_as_png()
    (Path(shot(page, "timeline")).parent / "timeline-checked.png").write_bytes(png)
    # Rows: job, step 0..3, big.
    bars = bar_spans(png, rect, 6)
    assert all(b["x"] is not None for b in bars), bars
    xs = [b["x"] for b in bars]
    assert xs == sorted(xs), f"bars not ordered by start time: {xs}"
    assert xs[1] < xs[2] < xs[3] < xs[4] < xs[5], xs
    colours = [b["colour"] for b in bars]
    assert colours == ["green", "green", "green", "red", "green", "green"], colours

    # A click on a bar opens that scope's records in the tree.
    y = AXIS_H + 3 * ROW_H + ROW_H // 2
    page.execute_script(
        """const c = document.querySelector('.timeline-canvas'); const r = c.getBoundingClientRect();
           const at = {clientX: r.x + arguments[0], clientY: r.y + arguments[1], bubbles: true};
           c.dispatchEvent(new MouseEvent('mousedown', at));
           window.dispatchEvent(new MouseEvent('mouseup', at));""",
        xs[3] - rect["x"] + 2,
        y,
    )
    wait(
        page,
        "the tree at step 2",
        lambda d: (
            [r["message"] for r in tree_rows(d) if r["selected"]] == ["step 2"]
            and d.execute_script("return document.querySelector('.timeline').hidden")
        ),
    )
    step = next(r for r in tree_rows(page) if r["message"] == "step 2")
    assert step["expanded"] == "true" and step["status"] == "failed"


def test_an_open_tasks_tree_and_timeline_follow_the_feed(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    script = client_script(
        daemon,
        f"""
        with distlog.task('live job'):
            with distlog.to('first'):
                logging.info('one')
            open({str(tmp_path / "ready")!r}, 'w').close()
            wait_for({str(tmp_path / "go")!r})
            with distlog.to('second'):
                logging.info('two')
                open({str(tmp_path / "second")!r}, 'w').close()
                wait_for({str(tmp_path / "end")!r})
        """,
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait(page, "the client", lambda d: (tmp_path / "ready").exists())
        # live job and first open, one, first closes.
        daemon.wait_stored(4)
        root = root_of(daemon)
        page.get(f"{daemon.server}/tasks/{root}?paged=1")
        wait(page, "the running tree", lambda d: any(r["message"] == "first" for r in tree_rows(d)))
        page.find_element(By.CSS_SELECTOR, '[data-action="timeline"]').click()
        wait(page, "2 scopes", lambda d: "2 scopes" in visible_text(d))
        (tmp_path / "go").touch()
        wait(page, "the second scope on the timeline", lambda d: "3 scopes" in visible_text(d))
        assert int(page.execute_script("return document.body.dataset.liveUpdates || 0")) > 0, (
            "updated by the feed"
        )
        shot(page, "live-timeline")
        page.find_element(By.CSS_SELECTOR, '[data-action="timeline"]').click()
        wait(
            page,
            "second, running",
            lambda d: any(r["message"] == "second" and r["status"] == "running" for r in tree_rows(d)),
        )
        (tmp_path / "end").touch()
        wait(
            page,
            "the task done",
            lambda d: any(r["message"] == "live job" and r["status"] == "succeeded" for r in tree_rows(d)),
        )
    finally:
        (tmp_path / "go").touch()
        (tmp_path / "end").touch()
        proc.wait(timeout=PATIENCE)
