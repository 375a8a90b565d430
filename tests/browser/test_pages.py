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


def test_sign_out_from_a_page_other_than_the_dashboard(browser: Chrome, site: LiveSite) -> None:
    _sign_in(browser, site)
    browser.get(site.url(f"/applications/{site.seeded.application_id}"))
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    _wait_for_path(browser, "/login")
    browser.get(site.url("/connections"))
    assert _path(browser) == "/login", "signing out from an application page must end the session"


def test_a_typed_logout_address_asks_instead_of_failing(browser: Chrome, site: LiveSite) -> None:
    _sign_in(browser, site)
    browser.get(site.url("/logout"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign out"
    browser.get(site.url("/"))
    assert _path(browser) == "/", "opening /logout must not sign anyone out by itself"


def test_errors_a_person_reaches_are_styled_pages(browser: Chrome, site: LiveSite) -> None:
    _sign_in(browser, site)
    _console(browser)
    browser.get(site.url("/applications/no-such-application"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    header = browser.find_element(By.TAG_NAME, "header")
    assert _style(browser, header, "display") == "flex", "the error page lost the site's styles"
    browser.find_element(By.LINK_TEXT, "Back to applications").click()
    _wait_for_path(browser, "/")

    browser.get(site.url(site.seeded.evidence_path + "tampered"))
    error = browser.find_element(By.ID, "error")
    assert "This evidence link is not valid." in error.text
    assert not browser.find_elements(By.TAG_NAME, "nav"), "a public error links to no tenant page"
    refused = [e["message"] for e in _console(browser) if "Content Security Policy" in e["message"]]
    assert not refused, f"the error page broke its own policy: {refused}"


def test_points_stay_on_one_line(browser: Chrome, site: LiveSite) -> None:
    """On a laptop-narrow window the table squeezes its columns; "10.0 / 11.11" must not break."""
    size = browser.get_window_size()
    browser.set_window_size(640, size["height"])
    try:
        browser.get(site.url(site.seeded.evidence_path))
        cells = browser.find_elements(By.XPATH, "//th[.='Points']/following::tbody[1]/tr/td[4]")
        assert cells, "the score table has no points column"
        for cell in cells:
            lines = browser.execute_script(
                "const r = document.createRange(); r.selectNodeContents(arguments[0]);"
                " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size",
                cell,
            )
            assert lines == 1, f"points {cell.text!r} wrap over {lines} lines"
    finally:
        browser.set_window_size(size["width"], size["height"])
