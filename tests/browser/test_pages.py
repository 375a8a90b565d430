"""The pages in a real Chromium: they render styled, sign-in works, and hostile text stays text."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.site import XSS_ISSUER, XSS_NAME, LiveSite

pytestmark = pytest.mark.browser

ACCENT = "rgb(58, 79, 214)"  # --accent in service/web/static/app.css
WHITE = "rgb(255, 255, 255)"


def _path(browser: Chrome) -> str:
    return urlsplit(browser.current_url).path


def _wait_for_path(browser: Chrome, path: str) -> None:
    WebDriverWait(browser, 10).until(lambda b: _path(b) == path, f"never reached {path}")


def _console(browser: Chrome) -> list[dict[str, Any]]:
    """What the page wrote to the console since the last call (CSP violations are reported here)."""
    return list(browser.get_log("browser"))


def _sign_in(browser: Chrome, site: LiveSite) -> None:
    browser.get(site.url("/login"))
    browser.find_element(By.ID, "key").send_keys(site.seeded.api_key)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    _wait_for_path(browser, "/")


def _style(browser: Chrome, element: WebElement, prop: str) -> str:
    return str(
        browser.execute_script("return getComputedStyle(arguments[0])[arguments[1]]", element, prop)
    )


def _assert_bar(bar: WebElement, percent: float, what: str) -> None:
    """The bar is drawn: a visible track, filled in proportion to the value it shows."""
    track = bar.rect["width"]
    fill = bar.find_element(By.TAG_NAME, "rect").rect["width"]
    assert bar.rect["height"] == pytest.approx(8), f"{what}: the bar's track has lost its styles"
    assert track >= 120, f"{what}: the bar's track is {track}px wide"
    assert fill == pytest.approx(track * percent / 100, abs=1.5), (
        f"{what}: a {percent}% bar is filled {fill}px of {track}px"
    )


def test_sign_in_dashboard_application_and_sign_out(browser: Chrome, site: LiveSite) -> None:
    seeded = site.seeded
    browser.get(site.url("/"))
    assert _path(browser) == "/login", "signed out, the dashboard sends you to sign in"

    _sign_in(browser, site)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Applications"
    link = browser.find_element(By.LINK_TEXT, seeded.candidate)
    row = link.find_element(By.XPATH, "./ancestor::tr")
    assert seeded.score > 0, "the seeded match must score for its bar to be measured"
    bar = row.find_element(By.CSS_SELECTOR, "svg.bar")
    _assert_bar(bar, seeded.score, "dashboard score bar")
    fill = bar.find_element(By.TAG_NAME, "rect")
    assert _style(browser, fill, "fill") == ACCENT, "the score bar is not painted"
    assert str(seeded.score) in row.text

    link.click()
    _wait_for_path(browser, f"/applications/{seeded.application_id}")
    assert seeded.candidate in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.CSS_SELECTOR, ".score").text.startswith(str(seeded.score))

    browser.find_element(By.LINK_TEXT, "Applications").click()
    _wait_for_path(browser, "/")
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    _wait_for_path(browser, "/login")
    browser.get(site.url("/"))
    assert _path(browser) == "/login", "after signing out the dashboard must ask to sign in again"
    assert not [e for e in _console(browser) if e["level"] == "SEVERE"], "the flow logged errors"


def test_public_evidence_page_explains_the_score(browser: Chrome, site: LiveSite) -> None:
    seeded = site.seeded
    browser.get(site.url(seeded.evidence_path))
    assert browser.find_element(By.CSS_SELECTOR, ".score").text == f"{seeded.score}/100"
    assert browser.find_element(By.CSS_SELECTOR, ".summary").text == seeded.summary
    assert not browser.find_elements(By.TAG_NAME, "nav"), "a public page links to no tenant page"

    rows = browser.find_elements(
        By.XPATH, "//h2[.='How the score was made']/following::table[1]/tbody/tr"
    )
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == ["SQL", "Python", "Tableau"]
    for row, coverage in zip(rows, seeded.coverage, strict=True):
        _assert_bar(row.find_element(By.CSS_SELECTOR, "svg.bar"), coverage * 100, row.text)
    assert "no verified evidence" in rows[2].text, "Tableau has no evidence and must say so"

    page = browser.find_element(By.TAG_NAME, "main").text
    assert "algorithm skillproof-scoring/" in page, "the scoring version is missing"
    assert "taxonomy esco@1.1.1" in page, "the taxonomy version is missing"
    assert browser.find_element(By.ID, "attribution").text == seeded.attribution, (
        "the page shows ESCO labels, so it must show ESCO's attribution"
    )


def test_hostile_credential_text_is_shown_as_text_and_runs_nothing(
    browser: Chrome, site: LiveSite
) -> None:
    _sign_in(browser, site)
    for path in (f"/applications/{site.seeded.application_id}", site.seeded.evidence_path):
        browser.get(site.url(path))
        main = browser.find_element(By.TAG_NAME, "main")
        assert XSS_NAME in main.text, f"{path}: the credential's name is not shown as typed"
        assert XSS_ISSUER in main.text, f"{path}: the issuer's name is not shown as typed"
        injected = browser.execute_script("return document.querySelectorAll('script, img').length")
        assert injected == 0, f"{path}: credential text became markup"
        assert browser.execute_script("return window.__xss") is None, f"{path}: a payload ran"


def test_an_escaping_slip_would_still_run_no_script(browser: Chrome, site: LiveSite) -> None:
    """Markup that slipped past escaping, as if a template had used `| safe` on a badge name."""
    browser.get(site.url(site.seeded.evidence_path))
    _console(browser)
    browser.execute_script(
        """
        const main = document.querySelector('main');
        main.insertAdjacentHTML('beforeend',
            '<img id="slip" src="x" onerror="window.__slip = &quot;img&quot;">');
        // Listeners added here run as WebDriver's own script, which no page policy governs.
        document.getElementById('slip').addEventListener('error', () => { window.__failed = 1; });
        const script = document.createElement('script');
        script.textContent = 'window.__slip = "script"';
        main.append(script);
        """
    )
    WebDriverWait(browser, 10).until(
        lambda b: b.execute_script("return window.__failed === 1"), "the image never failed"
    )
    assert browser.execute_script("return window.__slip") is None, (
        "injected markup ran script: the Content-Security-Policy does not forbid it"
    )
    refused = [e["message"] for e in _console(browser) if "Content Security Policy" in e["message"]]
    assert refused, "the browser should report the policy refusing the injected script"


@pytest.mark.parametrize("signed_in", [False, True], ids=["public", "signed-in"])
def test_pages_get_their_styles_and_break_no_rule_of_their_own_policy(
    browser: Chrome, site: LiveSite, signed_in: bool
) -> None:
    if signed_in:
        _sign_in(browser, site)
        paths = ["/", "/connections", f"/applications/{site.seeded.application_id}"]
    else:
        paths = ["/login", site.seeded.evidence_path]
    _console(browser)
    for path in paths:
        browser.get(site.url(path))
        header = browser.find_element(By.TAG_NAME, "header")
        assert _style(browser, header, "backgroundColor") == WHITE, f"{path}: unstyled"
        assert _style(browser, header, "display") == "flex", f"{path}: unstyled"
        body = browser.find_element(By.TAG_NAME, "body")
        assert _style(browser, body, "fontSize") == "15px", f"{path}: unstyled"
        messages = [e["message"] for e in _console(browser)]
        assert not [m for m in messages if "Content Security Policy" in m], (
            f"{path}: the policy blocked part of the page itself: {messages}"
        )
        assert not messages, f"{path}: the console is not clean: {messages}"
