"""The home page in a real browser: readable on a phone and on a desktop, no axe violations."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import LiveServer, assert_accessible

pytestmark = pytest.mark.browser


def test_home_page_is_accessible(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator(".topic")).to_have_count(4)
    assert_accessible(page)
