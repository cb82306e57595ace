"""The demo's captured-mail pages in a real browser: accessible, links clickable."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.fixtures.browser import LiveServer, assert_accessible
from tests.integration.test_delivery_capture import CONFIRM_URL, capture_confirmation

pytestmark = pytest.mark.browser


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"DEMO": True}


def test_captured_mail_pages_are_accessible(app: Flask, page: Any, live_server: LiveServer) -> None:
    path = capture_confirmation(app)
    page.goto(live_server.url + "/demo/mail")
    assert_accessible(page)
    page.get_by_role("link", name="Conferma la tua iscrizione").click()
    page.wait_for_url(f"**/demo/mail/{path.name}")
    assert page.get_by_role("link", name=CONFIRM_URL).get_attribute("href") == CONFIRM_URL
    assert_accessible(page)
    # Long lines (links, List-Unsubscribe headers) wrap: nothing scrolls sideways on a phone.
    viewport = page.viewport_size
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    wrap = page.locator("pre.mail-text").evaluate("e => getComputedStyle(e).whiteSpace")
    assert wrap == "pre-wrap"
