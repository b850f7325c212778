"""The harness itself: the live portal answers in a real Chromium, and axe-core runs on it."""
from __future__ import annotations

from tests.browser.conftest import assert_accessible


def test_start_page_renders_in_chromium_in_both_languages_and_is_accessible(portal, page, shots):
    for language, heading in (("en", "Your privacy rights"), ("nb", "Dine personvernrettigheter")):
        page.goto(f"{portal.url}/?lang={language}")
        assert page.locator("html").get_attribute("lang") == language
        assert heading in page.title()
        shots(page, f"start-{language}")
        assert_accessible(page, f"start page ({language})")
    assert page.csp_violations == []
