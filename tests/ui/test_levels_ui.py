"""The web UI's log-levels panel (issue #13) in a real headless Chromium,
against a real distlogd; the setting made in the page is the one the CLI
lists, and clearing it in the page removes it."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select
from test_web_ui import browser, page, shot, visible_text, wait  # noqa: F401

from conftest import Daemon


def test_the_levels_panel_sets_and_clears(page: WebDriver, daemon: Daemon) -> None:  # noqa: F811
    page.get(daemon.server + "/")
    page.find_element(By.LINK_TEXT, "Levels").click()
    wait(page, "the empty panel", lambda d: "No level settings." in visible_text(d))

    page.find_element(By.NAME, "logger").send_keys("app")
    Select(page.find_element(By.NAME, "level")).select_by_visible_text("DEBUG")
    page.find_element(By.NAME, "for").send_keys("10m")
    page.find_element(By.CSS_SELECTOR, "form.levels-form button[type=submit]").click()
    wait(page, "the new setting", lambda d: d.find_elements(By.CSS_SELECTOR, "tr.level"))
    [s] = daemon.cli_json("level", "list")["levels"]
    assert (s["logger"], s["level_name"]) == ("app", "DEBUG")
    # The table is redrawn every 2 s: read it through wait(), which retries
    # an element that went stale.
    wait(
        page,
        "the logger shown",
        lambda d: d.find_element(By.CSS_SELECTOR, "tr.level .c-logger").text == "app",
    )
    shot(page, "levels")

    # A bad duration is said in the page, and nothing changes.
    page.find_element(By.NAME, "for").clear()
    page.find_element(By.NAME, "for").send_keys("soon")
    page.find_element(By.CSS_SELECTOR, "form.levels-form button[type=submit]").click()
    wait(page, "the error", lambda d: "bad duration `soon`" in visible_text(d))

    def click_clear(d: WebDriver) -> bool:
        d.find_element(By.CSS_SELECTOR, "tr.level button.clear").click()
        return True

    wait(page, "the clear button", click_clear)
    wait(page, "the empty panel again", lambda d: "No level settings." in visible_text(d))
    assert daemon.cli_json("level", "list")["levels"] == []
