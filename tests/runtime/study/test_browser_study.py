"""The study page in a real browser: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver (never a downloaded one), against a real server. Votes are cast by clicking
and by keyboard, the page is reloaded mid-study, and the database and the results page are
checked, and the server is restarted mid-study. The screenshots go to the test's folder; with FACERT_STUDY_SCREENSHOTS=DIR (``make
study-screenshot``: DIR=docs) they are also copied there as study.png and study-results.png."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from study_support import copy_study, running, shared_study

from facert.config import Settings

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("selenium")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "not run: Debian's chromium and chromium-driver are not installed "
        "(apt-get install chromium chromium-driver; .ci/run does)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,760", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def wait_ready(driver: Any, position: int | None) -> None:
    """Until the page shows comparison ``position`` with its images loaded (None: the end)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d: Any) -> bool:
        body = d.find_element("tag name", "body")
        if body.get_attribute("data-ready") != "1":
            return False
        if position is None:
            return bool(d.find_element("id", "finished").is_displayed())
        return body.get_attribute("data-position") == str(position)

    WebDriverWait(driver, 30, poll_frequency=0.05).until(shown)


def press(driver: Any, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def cast(driver: Any, votes: list[tuple[str, str]], position: int) -> int:
    """Casts ``votes`` ((how: "click" or "key", button id or key)) from comparison ``position``,
    each once the page shows the next; returns the position after them."""
    for how, what in votes:
        if how == "click":
            driver.find_element("id", what).click()
        else:
            press(driver, what)
        position += 1
        wait_ready(driver, position if position < 6 else None)
    return position


def test_votes_by_click_and_keyboard_resume_and_results(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, settings: Settings, tmp_path: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    folder = copy_study(shared_study(tmp_path_factory, settings), tmp_path / "study")
    db_path = tmp_path / "votes.sqlite"
    with running(folder, db_path, rater="lab") as url:
        browser.get(url)
        name = browser.find_element("id", "rater-name")
        assert name.get_attribute("value") == "lab"  # --rater's proposal
        name.clear()
        name.send_keys("Ann", Keys.ENTER)
        wait_ready(browser, 0)
        assert browser.find_element("id", "progress-text").text == "0 of 6 done"
        assert browser.find_element("id", "fig-input").is_displayed()
        assert not browser.find_element("id", "fig-clean").is_displayed()
        assert not re.search(r"\b(ispl|wipa)\b", browser.page_source)  # the sides stay hidden
        browser.save_screenshot(str(tmp_path / "study.png"))
        position = cast(browser, [("click", "vote-a"), ("key", "2"), ("key", Keys.ARROW_DOWN)], 0)
        browser.refresh()  # resumes where it was: the cookie names the session
        wait_ready(browser, position)
        assert browser.find_element("id", "progress-text").text == "3 of 6 done"
    with running(folder, db_path) as url:  # the server stopped and started again (another port)
        browser.get(url)
        wait_ready(browser, position)
        assert browser.find_element("id", "progress-text").text == "3 of 6 done"
        votes = [("key", Keys.ARROW_LEFT), ("click", "vote-same"), ("key", Keys.ARROW_RIGHT)]
        assert cast(browser, votes, position) == 6
        assert browser.find_element("id", "progress-text").text == "6 of 6 done"
        rows = sqlite3.connect(db_path).execute(
            "SELECT s.rater, v.position, v.choice, v.seconds FROM votes v"
            " JOIN sessions s ON s.id = v.session ORDER BY v.rowid"
        )
        rows = rows.fetchall()
        choices = ["a", "b", "same", "a", "same", "b"]
        assert [r[:3] for r in rows] == [("Ann", i, c) for i, c in enumerate(choices)]
        assert all(0 < r[3] < 60 for r in rows)  # seconds on each comparison, measured by the page
        browser.find_element("link text", "Results").click()
        summary = browser.find_element("id", "summary").text
        assert summary.startswith("6 votes from 1 rater session.")
        scores = browser.find_elements("css selector", "#scores tr")[1:]
        assert sorted(r.find_elements("tag name", "td")[0].text for r in scores) == [
            "ispl", "none", "wipa"
        ]  # fmt: skip
        assert len(browser.find_elements("css selector", "#pairs tr")) == 4  # 3 pairs + header
        browser.save_screenshot(str(tmp_path / "study-results.png"))
    _publish(tmp_path, ("study.png", "study-results.png"))


def _publish(folder: Path, names: tuple[str, ...]) -> None:
    """Copies the screenshots to $FACERT_STUDY_SCREENSHOTS when set (the README's image)."""
    target = os.environ.get("FACERT_STUDY_SCREENSHOTS")
    for name in names:
        assert (folder / name).read_bytes().startswith(b"\x89PNG")
        if target:
            shutil.copyfile(folder / name, Path(target) / name)
