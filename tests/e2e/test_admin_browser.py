"""The admin area in a real browser, phone and desktop: sign in as editor and as admin,
hide and restore an article, browse every page; axe finds no WCAG 2.1 AA violation."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from newsletter.admin.models import User
from tests.fixtures.admin import ADMIN_EMAIL, EDITOR_EMAIL, FAST_HASHING, PASSWORD, DemoData
from tests.fixtures.browser import LiveServer, assert_accessible

pytestmark = pytest.mark.browser

# Set to a folder (e.g. /tmp/shots-admin) to keep screenshots of each page for review.
SHOTS = os.environ.get("ADMIN_SCREENSHOTS")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)


def _sign_in(page: Any, server: LiveServer, email: str) -> None:
    page.goto(server.url + "/admin/")
    assert "/admin/login" in page.url
    assert_accessible(page)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(server.url + "/admin/")


def test_editor_hides_and_restores_an_article(
    page: Any, live_server: LiveServer, editor_user: User, demo_data: DemoData
) -> None:
    _sign_in(page, live_server, EDITOR_EMAIL)
    expect(page.locator("svg[role=img]")).to_have_count(3)
    assert_accessible(page)
    _shot(page, "dashboard-editor")
    nav = page.get_by_role("navigation", name="Area di amministrazione")
    expect(nav.get_by_role("link", name="Iscritti")).to_have_count(0)  # admin only

    nav.get_by_role("link", name="Articoli").click()
    page.get_by_label("Il titolo contiene").fill("bilancio")
    page.get_by_role("button", name="Filtra").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    assert_accessible(page)
    rows.get_by_role("button", name="Nascondi").click()
    page.get_by_role("status").get_by_text("Nascosto").wait_for()  # the redirect's answer
    expect(page.get_by_role("status").get_by_text("Nascosto")).to_have_count(1)
    assert "bilancio" in page.url  # back on the filtered list
    expect(page.locator("tbody tr.is-hidden")).to_have_count(1)
    assert_accessible(page)
    _shot(page, "articles")

    page.locator("tbody tr a").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Assemblea dei sindaci"))
    page.get_by_role("button", name="Ripristina").click()
    page.get_by_role("status").get_by_text("Ripristinato").wait_for()
    expect(page.get_by_role("status").get_by_text("Ripristinato")).to_have_count(1)
    assert_accessible(page)

    nav.get_by_role("link", name="Fonti").click()
    expect(page.get_by_text("HTTP 503 from parcodelserio.example")).to_have_count(1)
    assert_accessible(page)
    _shot(page, "sources")

    response = page.request.get(live_server.url + "/admin/subscribers")
    assert response.status == 403

    page.goto(live_server.url + "/admin/")
    page.get_by_role("button", name="Esci").click()
    page.wait_for_url("**/admin/login")
    assert_accessible(page)


def test_admin_browses_subscribers_users_and_audit_log(
    page: Any, live_server: LiveServer, admin_user: User, demo_data: DemoData
) -> None:
    _sign_in(page, live_server, ADMIN_EMAIL)
    _shot(page, "dashboard")
    page.locator("details.data summary").first.click()
    assert page.locator("details.data table").first.is_visible()
    assert_accessible(page)
    _shot(page, "dashboard-table-open")

    nav = page.get_by_role("navigation", name="Area di amministrazione")
    nav.get_by_role("link", name="Iscritti").click()
    page.get_by_label("Indirizzo e-mail").fill("persona01")
    page.get_by_role("button", name="Cerca").click()
    page.locator("tbody tr").first.wait_for()  # the results page, not the search form alone
    expect(page.locator("tbody tr")).to_have_count(10)
    assert_accessible(page)
    _shot(page, "subscribers")
    page.get_by_label("indirizzo intero").check()
    page.get_by_label("Indirizzo e-mail").fill("persona012@example.org")
    page.get_by_role("button", name="Cerca").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="persona012@example.org").click()
    expect(page.get_by_role("heading", name="Storico dei consensi")).to_have_count(1)
    expect(page.locator("tbody tr").first).to_be_attached()
    assert_accessible(page)
    _shot(page, "subscriber")

    nav.get_by_role("link", name="Utenti").click()
    expect(page.get_by_text(ADMIN_EMAIL).first).to_be_attached()
    assert_accessible(page)

    nav.get_by_role("link", name="Registro delle attività").click()
    expect(page.get_by_role("cell", name="user.login").first).to_be_attached()
    assert_accessible(page)
    _shot(page, "audit")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)
