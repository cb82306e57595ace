"""Two-factor login in a real browser, phone and desktop: an administrator who must enrol is
sent to the account page, scans (reads) the key shown once, confirms a code, signs out and
signs in again with password and code; axe finds no WCAG 2.1 AA violation on any step."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from newsletter.admin.models import User
from newsletter.db import utcnow
from tests.fixtures.admin import ADMIN_EMAIL, FAST_HASHING, PASSWORD
from tests.fixtures.browser import LiveServer, assert_accessible

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("ADMIN_SCREENSHOTS")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {**FAST_HASHING, "ADMIN_REQUIRE_TOTP": True}


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)


def _fill_login(page: Any, server: LiveServer, code: str = "") -> None:
    page.goto(server.url + "/admin/login")
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    if code:
        page.get_by_label("Codice dell'app di autenticazione").fill(code)
    page.get_by_role("button", name="Accedi").click()


def test_administrator_enrols_and_signs_in_with_a_code(
    page: Any, live_server: LiveServer, admin_user: User
) -> None:
    _fill_login(page, live_server)
    # Required for administrators: every page leads to the set-up first.
    page.wait_for_url(live_server.url + "/admin/account")
    expect(page.get_by_role("alert").get_by_text("secondo fattore")).to_have_count(1)
    assert_accessible(page)
    _shot(page, "account-must-enrol")

    page.get_by_role("button", name="Configura l'accesso a due fattori").click()
    qr = page.get_by_role("img", name="Codice QR della chiave per i due fattori")
    expect(qr.locator("svg")).to_have_count(1)
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] <= page.viewport_size["width"]  # the QR code fits the phone
    secret = page.locator("code.totp-secret").inner_text().strip()
    assert len(secret) == 32
    assert_accessible(page)
    _shot(page, "account-enrol")

    totp = pyotp.TOTP(secret)
    page.get_by_label("Il codice di 6 cifre che l'app mostra adesso").fill("000000")
    page.get_by_role("button", name="Attiva l'accesso a due fattori").click()
    expect(page.get_by_role("status").get_by_text("non attivato")).to_have_count(1)
    assert_accessible(page)
    page.get_by_label("Il codice di 6 cifre che l'app mostra adesso").fill(totp.now())
    page.get_by_role("button", name="Attiva l'accesso a due fattori").click()
    page.wait_for_url(live_server.url + "/admin/")
    expect(page.get_by_role("status").get_by_text("Accesso a due fattori attivo")).to_have_count(1)

    page.get_by_role("button", name="Esci").click()
    page.wait_for_url("**/admin/login")
    # Password alone: refused, with the same message as a wrong password.
    _fill_login(page, live_server)
    expect(page.get_by_role("alert")).to_have_count(1)
    assert_accessible(page)
    _shot(page, "login-refused")
    # Password and the next step's code (the enrolment used the current one, and a code
    # works once): in.
    _fill_login(page, live_server, totp.at(utcnow() + timedelta(seconds=30)))
    page.wait_for_url(live_server.url + "/admin/")
    assert_accessible(page)
    page.get_by_role("link", name=ADMIN_EMAIL, exact=False).click()
    page.wait_for_url(live_server.url + "/admin/account")
    expect(page.get_by_text("Attivo: per entrare serve un codice")).to_have_count(1)
    assert secret not in page.content()  # the key is never shown again
    assert_accessible(page)
    _shot(page, "account-enrolled")
