"""The alert pages and the home banner in a real browser, on a phone and a desktop: no axe
violations, severity readable without colour, the alert reachable from the banner.

``ALERTS_SHOTS_DIR=/tmp/alerts-shots`` keeps a full-page screenshot of each page per width.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from newsletter.alerts import service
from newsletter.db import utcnow
from newsletter.extensions import db
from tests.fixtures.browser import LiveServer, assert_accessible
from tests.integration.test_alerts_public import EDITOR, alert_in, issue

pytestmark = pytest.mark.browser


def _check(page: Any, name: str, viewport: dict[str, int]) -> None:
    assert_accessible(page)
    # Nothing wider than the screen: a phone reader never scrolls sideways.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: {overflow}px wider than the viewport"
    shots = os.environ.get("ALERTS_SHOTS_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/{viewport['width']}-{name}.png", full_page=True)
        page.screenshot(path=f"{shots}/{viewport['width']}-{name}-top.png")  # the first screen


def _alerts() -> dict[str, int]:
    now = utcnow()
    weather = issue(
        headline="Allerta meteo arancione per temporali nel Cremasco",
        text="Possibili allagamenti dei sottopassi. Evitate gli spostamenti non necessari.",
        severity="severe",
        municipalities=["*"],
        topic="governance",
        starts_at=now.isoformat(),
        expires_at=(now + timedelta(hours=12)).isoformat(),
        url="https://www.protezionecivile.example.it/allerta",
    )
    road = issue(
        headline="Crema: via Mazzini chiusa dalle 14:00",
        text="Lavori sulla rete idrica.\n\nDeviazione per viale Repubblica.",
        severity="moderate",
        municipalities=["Crema", "Offanengo"],
        topic="mobility",
    )
    service.update(
        road,
        alert_in(
            headline="Crema: via Mazzini chiusa fino alle 22:00",
            text="I lavori durano più del previsto.",
            municipalities=["Crema"],
            topic="mobility",
        ),
        actor=EDITOR,
        note="chiusura prolungata",
    )
    water = issue(headline="Offanengo: acqua non potabile", severity="minor")
    service.cancel(water, actor=EDITOR, note="analisi regolari")
    db.session.commit()
    return {"weather": weather, "road": road, "water": water}


def test_alert_pages_and_banner_are_accessible(
    page: Any, live_server: LiveServer, app: Flask, viewport: dict[str, int]
) -> None:
    made = _alerts()
    page.goto(f"{live_server.url}/")
    banner = page.locator("section.alerts-banner")
    expect(banner.locator("li")).to_have_count(2)
    assert banner.locator(".alert-severity").first.inner_text().split() == ["Gravità:", "Grave"]
    _check(page, "1-home-banner", viewport)

    page.goto(f"{live_server.url}/avvisi")
    expect(page.locator("h1")).to_have_text("Avvisi urgenti")
    active = page.locator("section[aria-labelledby='active-heading'] li.alert-card")
    expect(active).to_have_count(2)
    assert "Aggiornato" in active.nth(1).inner_text()
    past = page.locator("section[aria-labelledby='past-heading'] li.alert-card")
    assert "Revocato" in past.first.inner_text()
    _check(page, "2-avvisi", viewport)

    page.get_by_role("link", name="Crema: via Mazzini chiusa fino alle 22:00").click()
    assert page.url.endswith(f"/avvisi/{made['road']}")
    expect(page.locator("ol.alert-history li")).to_have_count(2)
    _check(page, "3-avviso", viewport)

    page.goto(f"{live_server.url}/avvisi/{made['water']}")
    assert "questo avviso è stato revocato" in page.locator("main").inner_text().lower()
    _check(page, "4-avviso-revocato", viewport)

    page.goto(f"{live_server.url}/avvisi?lang=en")
    expect(page.locator("h1")).to_have_text("Urgent alerts")
    _check(page, "5-alerts-en", viewport)

    page.goto(f"{live_server.url}/comuni/crema")
    expect(page.locator("section.alerts-banner li")).to_have_count(2)
    _check(page, "6-comune-banner", viewport)
