"""Fixtures for the browser tests: Debian's Chromium driven by its own chromedriver, a live app.

Nothing is downloaded: the driver and the browser are the machine's (`apt-get install chromium
chromium-driver`), named explicitly so Selenium never looks for one of its own. Without them the
tests skip, unless SKILLPROOF_REQUIRE_BROWSER is set (CI sets it), which makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.browser.site import LiveSite, live_site, seed_pages
from tests.service.support import make_settings

CHROMIUM = "chromium"
CHROMEDRIVER = "chromedriver"


def _installed(name: str) -> str | None:
    """Where Debian put it (/usr/bin), even when PATH is narrower than a login shell's."""
    return shutil.which(name, path=os.pathsep.join((os.environ.get("PATH", ""), "/usr/bin")))


@pytest.fixture(scope="session")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    browser, driver = _installed(CHROMIUM), _installed(CHROMEDRIVER)
    if browser is None or driver is None:
        reason = (
            "Chromium and chromedriver are not installed (apt-get install chromium"
            " chromium-driver): the browser tests cannot run"
        )
        if os.environ.get("SKILLPROOF_REQUIRE_BROWSER"):
            pytest.fail(f"{reason}, and SKILLPROOF_REQUIRE_BROWSER is set")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox will not start
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        # The machine reaches no network but the loopback: ask Chromium not to try.
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
    ):
        options.add_argument(argument)
    # Console messages, CSP violations among them, for `browser_log`.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    session.set_page_load_timeout(30)
    try:
        yield session
    finally:
        session.quit()


@pytest.fixture
def browser(chrome: webdriver.Chrome) -> webdriver.Chrome:
    """The shared browser, signed out and with an empty console log."""
    chrome.get("about:blank")
    chrome.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chrome.get_log("browser")
    return chrome


@pytest.fixture(scope="module")
def site(
    chrome: webdriver.Chrome, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveSite]:
    """The app on 127.0.0.1 over a migrated SQLite copy: the pages, not the SQL, are under test."""
    folder = tmp_path_factory.mktemp("browser-site")
    database = folder / "skillproof.db"
    shutil.copyfile(sqlite_template, database)
    settings = make_settings(f"sqlite+aiosqlite:///{database}", folder)
    with live_site(settings, seed_pages) as running:
        yield running
