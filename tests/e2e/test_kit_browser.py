"""Every page of the comuni page model in a real browser, phone and desktop: axe-clean, and
usable with JavaScript switched off (the rating and subscribe forms are plain forms).

Set ``KIT_SHOTS_DIR`` to keep a full-page screenshot of every page checked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from newsletter.extensions import db
from newsletter.feedback.models import PageRating
from tests.fixtures.admin import ADMIN_EMAIL, FAST_HASHING, PASSWORD
from tests.fixtures.browser import LiveServer, assert_accessible

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/subscribe",
    "/topics/mobility",
    "/archive",
    "/privacy",
    "/accessibility",
    "/legal",
    "/comuni",
    "/comuni/crema",
    "/accessibility?lang=en",
    "/nowhere",
]


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def _shot(page: Any, name: str, viewport: dict[str, int]) -> None:
    shots = os.environ.get("KIT_SHOTS_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        safe = name.strip("/").replace("/", "_").replace("?", "_") or "home"
        page.screenshot(path=f"{shots}/{viewport['width']}-{safe}.png", full_page=True)


def test_public_pages_are_accessible_and_load_only_our_files(
    page: Any, live_server: LiveServer, viewport: dict[str, int]
) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    for path in PAGES:
        page.goto(live_server.url + path)
        expect(page.locator("h1"), path).to_have_count(1)
        scripts = page.locator("script").evaluate_all("all => all.map(s => s.src)")
        assert set(scripts) <= {live_server.url + "/push/static/push.js"}, path
        # The kit's font really is in use (our @font-face, not the kit's JavaScript loader).
        family = page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
        assert family.startswith('"Titillium Web"'), family
        assert page.evaluate("document.fonts.check('16px \"Titillium Web\"')"), path
        assert_accessible(page)
        _shot(page, path, viewport)
    assert requested
    assert all(url.startswith(live_server.url) for url in requested), [
        u for u in requested if not u.startswith(live_server.url)
    ]
    # No horizontal scrolling on a phone.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"]


def test_rating_a_page_without_javascript(
    chromium: Any, live_server: LiveServer, app: Flask, viewport: dict[str, int]
) -> None:
    context = chromium.new_context(viewport=viewport, locale="it-IT", java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/archive")  # a page with no other form
        feedback = page.locator("[data-element=feedback]")
        feedback.get_by_role("button", name="Invia la valutazione").click()
        expect(feedback).to_contain_text("Scegli da 1 a 5 stelle")
        feedback.locator("label[data-element=feedback-rate-4]").click()  # the 4th star
        feedback.get_by_role("button", name="Invia la valutazione").click()
        page.wait_for_url("**/archive?feedback=thanks#feedback")
        thanks = page.locator("[data-element=feedback]").inner_text()
        assert "Grazie per il tuo riscontro!" in thanks
        assert context.cookies() == []  # rating set no cookie
    finally:
        context.close()
    count = db.session.scalar(
        sa.select(PageRating.count).where(PageRating.page == "/archive", PageRating.rating == 4)
    )
    assert count == 1


def test_admin_dashboard_in_the_page_model(
    page: Any, live_server: LiveServer, admin_user: Any, viewport: dict[str, int]
) -> None:
    page.goto(live_server.url + "/admin/login")
    assert_accessible(page)
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url("**/admin/")
    expect(page.locator(".it-header-slim-wrapper")).to_have_count(1)
    expect(page.locator("footer [data-element=accessibility-link]")).to_have_count(1)
    expect(page.get_by_role("heading", name="Valutazioni delle pagine")).to_have_count(1)
    assert_accessible(page)
    _shot(page, "admin", viewport)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"]


def test_every_mail_passes_axe(page: Any, app: Flask, relay: Any, viewport: dict[str, int]) -> None:
    """Mail HTML under axe (WCAG 2.1 A/AA; the page-landmark rules are best-practice ones,
    not run): contrast, names of links, the language, the one role="article"."""
    from tests.integration.test_mail_identity import every_kind_of_mail

    for kind, message in every_kind_of_mail(app, app.test_client(), relay).items():
        html = message.get_body(("html",))
        assert html is not None, kind
        page.set_content(html.get_content())
        expect(page.locator("[role=article]"), kind).to_have_count(1)
        assert_accessible(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], kind
