"""The archive pages and the digest e-mail in a real browser, at phone and desktop widths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from newsletter.digests.models import Digest, DigestKind
from newsletter.digests.service import build_digests
from newsletter.extensions import db
from tests.fixtures.browser import LiveServer, assert_accessible
from tests.fixtures.digests import WEEKLY_FIRE

pytestmark = pytest.mark.browser

PLACEHOLDER_IMAGE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="600">'
    '<rect width="1200" height="600" fill="#8aa"/></svg>'
)


def _fake_images(page: Any) -> None:
    page.route(
        "https://www.example.org/img/**",
        lambda route: route.fulfill(
            status=200, content_type="image/svg+xml", body=PLACEHOLDER_IMAGE
        ),
    )


def test_archive_and_edition_pages_are_accessible(
    live_server: LiveServer, page: Any, digest_data: Callable[..., Any]
) -> None:
    digest_data()
    build_digests("weekly", WEEKLY_FIRE)
    page.goto(f"{live_server.url}/archive")
    expect(page.locator("h1")).to_have_text("Archivio della newsletter")
    assert_accessible(page)
    page.get_by_role("link", name="Edizione settimanale del 23 novembre 2026").click()
    expect(page.locator("main section h2:not(#feedback-title)")).to_have_text(
        ["Welfare", "Mobilità", "Energia"]
    )
    assert_accessible(page)
    page.goto(f"{live_server.url}/archive?lang=en")
    expect(page.locator("h1")).to_have_text("Newsletter archive")
    assert_accessible(page)


def test_the_digest_email_fits_the_screen_and_names_its_images(
    app: Any, page: Any, digest_data: Callable[..., Any]
) -> None:
    digest_data()
    build_digests("weekly", WEEKLY_FIRE)
    _fake_images(page)
    mayor = db.session.scalar(sa.select(Digest).where(Digest.kind == DigestKind.INSTITUTIONAL))
    assert mayor is not None
    page.set_content(mayor.html, wait_until="load")
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    images = page.locator("img")
    expect(images).to_have_count(1)
    assert images.first.get_attribute("alt") == "La sala del convegno"
    box = images.first.bounding_box()
    assert box is not None
    assert box["width"] <= min(width, 640)
    assert_accessible(page)
