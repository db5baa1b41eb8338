"""The web UI in a real headless Chromium, against a real distlogd fed by the
real Python client.

Driven with Selenium and Debian's ``chromedriver`` (packages ``chromium`` and
``chromium-driver``); screenshots go to ``artifacts/ui/``. Every wait is an
explicit wait for what the page shows, with a generous timeout; nothing is
timed. The fixtures live here rather than in ``tests/ui/conftest.py``: a
second module named ``conftest`` would shadow ``tests/conftest.py`` for the
``from conftest import …`` below.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest

from conftest import PATIENCE, ROOT, Daemon, run_python, tutorial_source

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as e:  # pragma: no cover - a setup problem, said plainly
    raise ImportError(
        "the web UI tests need selenium: pip install -e './python[test]' (scripts/bootstrap.sh does)"
    ) from e

ARTIFACTS = ROOT / "artifacts" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
WIDE = (1280, 800)
NARROW = (420, 760)

T = TypeVar("T")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.fail(
                f"{path} is missing: apt-get install chromium chromium-driver "
                "(the web UI tests drive Debian's headless Chromium)",
                pytrace=False,
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.add_argument(f"--window-size={WIDE[0]},{WIDE[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PATIENCE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser: WebDriver, request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    """The browser, reset to a wide window. Afterwards: a screenshot of how
    the test left the page, and a failure for any script error."""
    browser.set_window_size(*WIDE)
    browser.get("about:blank")
    browser.get_log("browser")
    yield browser
    errors = [
        e["message"]
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
    ]
    shot(browser, f"end-{request.node.name}")
    assert not errors, f"errors in the page's console: {errors}"


# -- helpers -------------------------------------------------------------


def shot(driver: WebDriver, name: str) -> Path:
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    driver.save_screenshot(str(path))
    return path


def wait(driver: WebDriver, what: str, check: Callable[[WebDriver], T | bool | None]) -> T:
    """Polls ``check`` until it returns something truthy; returns it."""

    def attempt(d: WebDriver) -> Any:
        try:
            return check(d)
        except StaleElementReferenceException:
            return False

    try:
        return WebDriverWait(driver, PATIENCE, poll_frequency=0.1).until(attempt)
    except Exception as e:
        shot(driver, f"gave-up-{what}")
        raise AssertionError(f"gave up waiting for {what}; page text:\n{visible_text(driver)}") from e


def visible_text(driver: WebDriver) -> str:
    try:
        return str(driver.execute_script("return document.body.innerText"))[:3000]
    except WebDriverException:
        return "?"


ROWS_JS = """
return Array.from(document.querySelectorAll('.trow'))
  .sort((a, b) => a.dataset.row - b.dataset.row)
  .map(r => ({
    kind: r.dataset.kind,
    depth: Number(r.getAttribute('aria-level')) - 1,
    message: r.querySelector('.msg').textContent,
    status: r.dataset.status || null,
    expanded: r.getAttribute('aria-expanded'),
    selected: r.classList.contains('selected'),
    level: r.querySelector('.level') ? r.querySelector('.level').textContent : null,
    key: r.dataset.key || null,
    scope: r.dataset.scope || null,
    text: r.innerText.replace(/\\n/g, ' '),
  }));
"""


def tree_rows(driver: WebDriver) -> list[dict[str, Any]]:
    """The tree's lines on screen, top to bottom."""
    return list(driver.execute_script(ROWS_JS))


def outline(driver: WebDriver) -> list[tuple[int, str, str]]:
    """(depth, kind, message) of each line: the tree as a reader sees it."""
    return [(r["depth"], r["kind"], r["message"]) for r in tree_rows(driver)]


def row(driver: WebDriver, message: str, kind: str = "scope") -> WebElement:
    """The first line of ``kind`` whose message is ``message``."""
    for el in driver.find_elements(By.CSS_SELECTOR, f".trow.{kind}"):
        if el.find_element(By.CSS_SELECTOR, ".msg").text == message:
            return el
    raise AssertionError(f"no {kind} line {message!r} in {outline(driver)}")


def has_row(message: str, kind: str = "scope", **want: Any) -> Callable[[WebDriver], bool]:
    def check(d: WebDriver) -> bool:
        return any(
            r["message"] == message and r["kind"] == kind and all(r[k] == v for k, v in want.items())
            for r in tree_rows(d)
        )

    return check


def press(driver: WebDriver, *keys: str) -> None:
    ActionChains(driver).send_keys(*keys).perform()


def task_rows(driver: WebDriver) -> list[dict[str, str]]:
    return list(
        driver.execute_script(
            """return Array.from(document.querySelectorAll('tr.task')).map(tr => ({
                 root: tr.dataset.root, status: tr.dataset.status,
                 message: tr.querySelector('.task-link').textContent,
                 records: tr.querySelector('td.c-num').textContent,
                 duration: tr.querySelector('td.c-dur').textContent}))"""
        )
    )


def client_script(daemon: Daemon, body: str) -> str:
    """A Python program that logs to ``daemon`` through distlog, then runs ``body``."""
    preamble = f"""
        import logging, os, sys, time
        import distlog
        logger = logging.getLogger()
        logger.addHandler(distlog.ZmqHandler({daemon.intake!r}))
        logger.setLevel(logging.INFO)

        def wait_for(name):
            deadline = time.monotonic() + {PATIENCE}
            while not os.path.exists(name):
                if time.monotonic() > deadline:
                    sys.exit('nobody created ' + name)
                time.sleep(0.05)
    """
    return textwrap.dedent(preamble) + textwrap.dedent(body)


def run_tutorial(daemon: Daemon, tmp_path: Path) -> str:
    """Runs the tutorial's example; returns its root id once all 7 records are stored."""
    run_python(tmp_path, "example.py", tutorial_source(daemon.intake))
    daemon.wait_stored(7)
    [task] = daemon.cli_json("tasks")["tasks"]
    return str(task["root"])


def open_tree(driver: WebDriver, daemon: Daemon, id_: str, message: str) -> None:
    driver.get(f"{daemon.server}/tasks/{id_}")
    wait(driver, f"the tree of {message!r}", has_row(message, depth=0))


# -- the task list -------------------------------------------------------


def test_the_tutorials_task_appears_in_the_list(page: WebDriver, daemon: Daemon, tmp_path: Path) -> None:
    page.get(daemon.server + "/")
    wait(page, "the empty list", lambda d: "No tasks yet" in visible_text(d))
    run_python(tmp_path, "example.py", tutorial_source(daemon.intake))
    # The list polls: the task shows up without a reload.
    [task] = wait(page, "the tutorial's task", lambda d: [t for t in task_rows(d) if t["records"] == "6"])
    assert (task["message"], task["status"]) == ("toplevel", "succeeded")
    assert page.find_element(By.CSS_SELECTOR, "tr.task .c-host").text
    shot(page, "task-list")

    page.find_element(By.LINK_TEXT, "toplevel").click()
    wait(page, "the tree", has_row("toplevel", depth=0))
    assert page.current_url == f"{daemon.server}/tasks/{task['root']}"


def test_the_task_list_filters_by_status_and_text(page: WebDriver, daemon: Daemon, tmp_path: Path) -> None:
    run_tutorial(daemon, tmp_path)
    script = client_script(
        daemon,
        """
        try:
            with distlog.task('payment', order=7):
                raise ValueError('card declined')
        except ValueError:
            pass
        """,
    )
    run_python(tmp_path, "fail.py", script)
    daemon.wait_stored(9)
    page.get(daemon.server + "/")
    wait(page, "both tasks", lambda d: len(task_rows(d)) == 2)
    assert [t["message"] for t in task_rows(page)] == ["payment", "toplevel"], "newest first"

    Select(page.find_element(By.NAME, "status")).select_by_value("failed")
    wait(page, "failed tasks only", lambda d: [t["message"] for t in task_rows(d)] == ["payment"])
    assert "status=failed" in page.current_url, "the filter is in the URL, to share"

    Select(page.find_element(By.NAME, "status")).select_by_value("")
    page.find_element(By.NAME, "text").send_keys("TOPL")
    wait(page, "tasks matching the text", lambda d: [t["message"] for t in task_rows(d)] == ["toplevel"])
    page.find_element(By.NAME, "text").clear()

    # By a field of the root's context, which each row also shows.
    context = page.find_element(By.NAME, "context")
    context.send_keys("order=7")
    wait(page, "tasks with order=7", lambda d: [t["message"] for t in task_rows(d)] == ["payment"])
    assert page.find_element(By.CSS_SELECTOR, "tr.task .task-context").text == "order=7"
    context.clear()
    context.send_keys("user")
    wait(page, "the API's word on a filter without a value", lambda d: "field=value" in visible_text(d))
    context.clear()
    context.send_keys("user=leo")
    wait(page, "tasks of user leo", lambda d: [t["message"] for t in task_rows(d)] == ["toplevel"])
    assert "context=user%3Dleo" in page.current_url
    context.clear()

    # A shared URL restores the filters.
    page.get(daemon.server + "/?status=failed")
    wait(page, "the filtered list", lambda d: [t["message"] for t in task_rows(d)] == ["payment"])
    assert Select(page.find_element(By.NAME, "status")).first_selected_option.text == "failed"


# -- trees ---------------------------------------------------------------


def test_the_tree_shows_subtask_under_toplevel_with_the_right_messages(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    root = run_tutorial(daemon, tmp_path)
    open_tree(page, daemon, root, "toplevel")
    # A succeeded branch starts folded: the root's own lines show.
    assert outline(page) == [
        (0, "scope", "toplevel"),
        (1, "record", "into task"),
        (1, "scope", "subtask"),
        (1, "record", "toplevel"),
    ]
    lines = tree_rows(page)
    assert lines[0]["status"] == "succeeded" and "user=leo" in lines[0]["text"]
    assert lines[2]["expanded"] == "false" and "arg=42" in lines[2]["text"]
    assert "✓" in lines[3]["text"], "the closing record is marked"

    row(page, "subtask").click()
    wait(page, "the subtask's records", has_row("subtask done", kind="record", depth=2))
    assert outline(page) == [
        (0, "scope", "toplevel"),
        (1, "record", "into task"),
        (1, "scope", "subtask"),
        (2, "record", "into task"),
        (2, "record", "subtask done"),
        (1, "record", "toplevel"),
    ]
    assert [r["key"] for r in tree_rows(page) if r["depth"] == 2] == [f"1@{root}/1", f"2@{root}/1"]
    shot(page, "tutorial-tree")


def test_folding_hides_and_unfolding_shows_the_children(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    root = run_tutorial(daemon, tmp_path)
    open_tree(page, daemon, root, "toplevel")
    children = {"into task", "subtask", "toplevel"}

    row(page, "toplevel").click()  # fold the root
    wait(page, "the root folded", lambda d: outline(d) == [(0, "scope", "toplevel")])
    assert tree_rows(page)[0]["expanded"] == "false"
    row(page, "toplevel").click()  # unfold it
    wait(page, "the root's children", lambda d: {m for depth, _, m in outline(d) if depth == 1} == children)

    page.find_element(By.CSS_SELECTOR, "[data-action=expand-all]").click()
    wait(page, "everything unfolded", lambda d: len(outline(d)) == 6)
    page.find_element(By.CSS_SELECTOR, "[data-action=collapse-all]").click()
    wait(page, "the subtask folded", lambda d: len(outline(d)) == 4)
    assert row(page, "subtask").get_attribute("aria-expanded") == "false"


def test_the_tree_is_driven_by_the_keyboard_in_a_narrow_window(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    root = run_tutorial(daemon, tmp_path)
    page.set_window_size(*NARROW)
    open_tree(page, daemon, root, "toplevel")

    def selected(d: WebDriver) -> tuple[int, str, str]:
        [r] = [r for r in tree_rows(d) if r["selected"]]
        return (r["depth"], r["kind"], r["message"])

    assert selected(page) == (0, "scope", "toplevel")
    press(page, "j", "j")
    wait(page, "the subtask selected", lambda d: selected(d) == (1, "scope", "subtask"))
    press(page, Keys.ARROW_RIGHT)  # unfold
    wait(page, "the subtask unfolded", has_row("subtask done", kind="record", depth=2))
    press(page, "l")  # to the first child
    wait(page, "its first record selected", lambda d: selected(d) == (2, "record", "into task"))
    press(page, "h")  # a record: to its parent
    wait(page, "back on the subtask", lambda d: selected(d) == (1, "scope", "subtask"))
    press(page, Keys.ARROW_LEFT)  # fold
    wait(page, "the subtask folded", lambda d: len(outline(d)) == 4)
    press(page, "k", Keys.ENTER)  # open a record's details
    wait(page, "the details", lambda d: d.find_element(By.ID, "details").is_displayed())
    body = page.find_element(By.ID, "details-body").text
    wait(page, "every field", lambda d: "funcName" in d.find_element(By.ID, "details-body").text)
    assert "user" in body and "leo" in body
    shot(page, "narrow-details")
    press(page, Keys.ESCAPE)
    wait(page, "the details closed", lambda d: not d.find_element(By.ID, "details").is_displayed())
    press(page, "e")
    wait(page, "everything unfolded", lambda d: len(outline(d)) == 6)
    shot(page, "narrow-tree")
    width = page.execute_script("return document.documentElement.scrollWidth")
    assert width <= NARROW[0], "nothing sticks out sideways"


def test_a_failing_task_shows_its_failure_expanded(page: WebDriver, daemon: Daemon, tmp_path: Path) -> None:
    script = client_script(
        daemon,
        """
        try:
            with distlog.task('payment', order=7):
                with distlog.to('validate'):
                    logger.info('looks fine')
                with distlog.to('charge card', card='visa'):
                    logger.warning('the bank is slow')
                    raise ValueError('card declined')
        except ValueError:
            pass
        """,
    )
    run_python(tmp_path, "fail.py", script)
    daemon.wait_stored(8)
    page.get(daemon.server + "/?status=failed")
    wait(page, "the failed task", lambda d: [t["message"] for t in task_rows(d)] == ["payment"])
    page.find_element(By.LINK_TEXT, "payment").click()
    wait(page, "the failure", has_row("charge card", kind="record", depth=2, level="ERROR"))
    assert outline(page) == [
        (0, "scope", "payment"),
        (1, "scope", "validate"),  # succeeded: folded
        (1, "scope", "charge card"),  # failed: open
        (2, "record", "the bank is slow"),
        (2, "record", "charge card"),
        (1, "record", "payment"),
    ]
    by_message = {(r["kind"], r["message"]): r for r in tree_rows(page)}
    assert by_message[("scope", "charge card")]["status"] == "failed"
    assert by_message[("scope", "validate")]["expanded"] == "false"
    assert "ValueError: card declined" in by_message[("record", "charge card")]["text"]
    assert by_message[("record", "the bank is slow")]["level"] == "WARNING"

    row(page, "charge card", kind="record").click()
    details = wait(page, "the traceback", lambda d: d.find_element(By.CSS_SELECTOR, "#details pre.traceback"))
    assert "ValueError: card declined" in details.text
    wait(page, "every field", lambda d: "exc_text" in d.find_element(By.ID, "details-body").text)
    assert "card" in page.find_element(By.ID, "details-body").text
    shot(page, "failed-task")


def test_a_running_task_updates_without_reload(page: WebDriver, daemon: Daemon, tmp_path: Path) -> None:
    script = client_script(
        daemon,
        """
        with distlog.task('long job', batch=3):
            logger.info('step 1')
            with distlog.to('waiting step'):
                logger.info('waiting for go1')
                wait_for('go1')
                logger.info('step 2')
            wait_for('go2')
        """,
    )
    (tmp_path / "job.py").write_text(script)
    job = subprocess.Popen([sys.executable, "job.py"], cwd=tmp_path)
    try:
        page.get(daemon.server + "/")
        [task] = wait(
            page, "the running task", lambda d: [t for t in task_rows(d) if t["status"] == "running"]
        )
        assert task["message"] == "long job"
        assert "so far" in task["duration"]
        page.find_element(By.LINK_TEXT, "long job").click()
        wait(page, "the waiting step", has_row("waiting for go1", kind="record", depth=2))
        page.execute_script("window.notReloaded = true")
        lines = {(r["kind"], r["message"]): r for r in tree_rows(page)}
        assert lines[("scope", "long job")]["status"] == "running"
        assert lines[("scope", "waiting step")]["status"] == "running"
        assert "so far" in lines[("scope", "waiting step")]["text"], "running scopes show elapsed time"
        shot(page, "running-task")

        (tmp_path / "go1").touch()
        wait(page, "step 2", has_row("step 2", kind="record", depth=2))
        wait(page, "the step closed", has_row("waiting step", status="succeeded"))
        assert has_row("long job", status="running")(page)

        (tmp_path / "go2").touch()
        wait(page, "the task closed", has_row("long job", status="succeeded"))
        assert page.execute_script("return window.notReloaded") is True
        assert job.wait(PATIENCE) == 0

        page.find_element(By.CSS_SELECTOR, "a.back").click()
        wait(page, "the list, updated", lambda d: [t["status"] for t in task_rows(d)] == ["succeeded"])
        assert page.execute_script("return window.notReloaded") is True
    finally:
        job.kill()
        job.wait()


def test_a_scope_continued_in_another_process_is_marked(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    child = client_script(
        daemon,
        """
        with distlog.import_task(sys.argv[1], 'remote part', side='child'):
            logger.info('working remotely')
        """,
    )
    (tmp_path / "child.py").write_text(child)
    parent = client_script(
        daemon,
        """
        import subprocess
        with distlog.task('request', side='parent') as job:
            foreign = job.get_foreign_task()
            subprocess.run([sys.executable, 'child.py', foreign], check=True, timeout=60)
            logger.info('child finished')
        """,
    )
    run_python(tmp_path, "parent.py", parent)
    daemon.wait_stored(6)
    root = daemon.cli_json("tasks")["tasks"][0]["root"]
    open_tree(page, daemon, root, "request")
    remote = row(page, "remote part")
    assert "foreign" in (remote.get_attribute("class") or "")
    mark = remote.find_element(By.CSS_SELECTOR, ".foreign-mark")
    assert "⇄" in mark.text
    assert "foreign" not in (row(page, "request").get_attribute("class") or "")


def test_a_link_to_a_record_opens_the_path_to_it_and_its_fields(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    root = run_tutorial(daemon, tmp_path)
    page.get(f"{daemon.server}/tasks/2@{root}/1")
    wait(page, "the record, selected", has_row("subtask done", kind="record", selected=True))
    wait(page, "its fields", lambda d: "funcName" in d.find_element(By.ID, "details-body").text)
    assert "subtask done" in page.find_element(By.ID, "details-title").text
    assert "42" in page.find_element(By.ID, "details-body").text  # context arg=42

    # Opening another record's details puts it in the URL, to share.
    row(page, "into task", kind="record").click()
    wait(page, "the URL of that record", lambda d: d.current_url.endswith(f"/tasks/1@{root}"))


# -- the live tail -------------------------------------------------------


def test_the_live_tail_follows_records_through_a_rule_filter(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    page.get(daemon.server + "/tail?filter=level>=WARNING")
    wait(page, "the feed", lambda d: "live" in d.find_element(By.CSS_SELECTOR, ".live-state").text)
    daemon.wait_for("the page to subscribe", lambda s: any(k.get("subscribers") for k in s["sinks"]))
    script = client_script(
        daemon,
        """
        with distlog.task('checkout', user='leo'):
            logger.info('quiet')
            logger.warning('loud')
        """,
    )
    run_python(tmp_path, "tail.py", script)

    def messages(d: WebDriver) -> list[str]:
        return [el.text for el in d.find_elements(By.CSS_SELECTOR, ".tail-row .msg")]

    wait(page, "the warning", lambda d: "loud" in messages(d))
    assert "quiet" not in messages(page)
    page.find_element(By.CSS_SELECTOR, ".tail-row").click()
    wait(page, "its fields", lambda d: "funcName" in d.find_element(By.ID, "details-body").text)
    shot(page, "live-tail")

    box = page.find_element(By.NAME, "filter")
    box.clear()
    box.send_keys("level>>>nonsense", Keys.ENTER)
    error = wait(page, "the filter's error", lambda d: d.find_element(By.CSS_SELECTOR, ".tail-view .error"))
    wait(page, "an explanation", lambda d: error.text.strip() != "")


def test_the_live_tail_follows_a_reload_and_says_why_when_its_feed_goes(
    page: WebDriver, tmp_path: Path
) -> None:
    config = tmp_path / "distlogd.yml"
    config.write_text("sinks:\n  store: {type: store}\n  live: {type: feed, buffer: 64}\n")
    daemon = Daemon(tmp_path / "store", "--config", str(config))
    try:
        page.get(daemon.server + "/tail")
        wait(page, "the feed", lambda d: "live" in d.find_element(By.CSS_SELECTOR, ".live-state").text)
        daemon.wait_for("the page to subscribe", lambda s: any(k.get("subscribers") for k in s["sinks"]))

        def messages(d: WebDriver) -> list[str]:
            return [el.text for el in d.find_elements(By.CSS_SELECTOR, ".tail-row .msg")]

        def log(message: str) -> None:
            run_python(tmp_path, "one.py", client_script(daemon, f"logger.warning({message!r})"))

        # The feed's settings change: the page stays live on the new feed.
        config.write_text("sinks:\n  store: {type: store}\n  live: {type: feed, buffer: 128}\n")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("the new feed's subscriber", lambda s: any(k.get("subscribers") for k in s["sinks"]))
        log("after the first reload")
        wait(page, "a record after the reload", lambda d: "after the first reload" in messages(d))

        # The feed goes: the page says so and follows the store instead.
        config.write_text("sinks:\n  store: {type: store}\n")
        daemon.proc.send_signal(signal.SIGHUP)
        note = wait(
            page,
            "the reason",
            lambda d: (
                d.find_element(By.CSS_SELECTOR, ".tail-view .note")
                if "reloaded without" in d.find_element(By.CSS_SELECTOR, ".tail-view .note").text
                else None
            ),
        )
        assert "following the store" in note.text
        log("from the store")
        wait(page, "a record read from the store", lambda d: "from the store" in messages(d))
        shot(page, "tail-after-reload")
    finally:
        daemon.stop()


# -- the scopes (metrics) page --------------------------------------------


def test_the_scopes_page_plots_busiest_slowest_and_failing_scopes(
    page: WebDriver, daemon: Daemon, tmp_path: Path
) -> None:
    body = """
        for user in range(5):
            try:
                with distlog.task("fetch user %d", user):
                    if user == 3:
                        raise KeyError(user)
            except KeyError:
                pass
        with distlog.task("slow report 'q3'"):
            time.sleep(0.3)
    """
    run_python(tmp_path, "scopes.py", client_script(daemon, body))
    daemon.wait_stored(12)
    page.get(daemon.server + "/scopes")

    def table(d: WebDriver) -> dict[str, list[str]] | None:
        rows = {
            r.get_attribute("data-scope") or "": [c.text for c in r.find_elements(By.CSS_SELECTOR, "td")]
            for r in d.find_elements(By.CSS_SELECTOR, ".metric-table tbody tr")
        }
        return rows if len(rows) == 2 else None

    rows = wait(page, "the two kinds of scope in the table", table)
    fetch = rows["fetch user <n>"]
    assert fetch[3:6] == ["5", "1", "20%"], fetch
    assert rows["slow report <str>"][3:5] == ["1", "0"]
    busiest = [r.get_attribute("data-scope") for r in page.find_elements(By.CSS_SELECTOR, "#busiest rect")]
    slowest = [r.get_attribute("data-scope") for r in page.find_elements(By.CSS_SELECTOR, "#slowest rect")]
    failing = [r.get_attribute("data-scope") for r in page.find_elements(By.CSS_SELECTOR, "#failing rect")]
    assert busiest == ["fetch user <n>", "slow report <str>"]
    assert slowest == ["slow report <str>", "fetch user <n>"]
    assert failing == ["fetch user <n>"]
    # The busiest bar is the longest.
    widths = [
        float(r.get_attribute("width") or 0) for r in page.find_elements(By.CSS_SELECTOR, "#busiest rect")
    ]
    assert widths[0] > widths[1]
    shot(page, "scopes")
