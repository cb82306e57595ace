"""Editors' test sends: any number to the team's own addresses, a few per hour elsewhere."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin.models import User
from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.digests.service import period_due
from newsletter.extensions import db
from tests.fixtures.admin import (
    ADMIN_EMAIL,
    EDITOR_EMAIL,
    FAST_HASHING,
    browser,
    csrf_token,
    login,
    make_article,
    make_source,
)

LIMIT = 3


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {**FAST_HASHING, "ADMIN_TEST_SENDS_PER_HOUR": LIMIT}


@pytest.fixture
def digest_content(app: Flask) -> None:
    published = period_due("weekly").start + timedelta(hours=3)
    make_article(make_source(), "Bilancio del Consorzio", ("governance",), published_at=published)
    db.session.commit()


PREVIEW = "/admin/digests/preview?frequency=weekly&lang=it&topics=governance"


def _send(client: FlaskClient, to: str) -> str:
    token = csrf_token(client.get(PREVIEW).get_data(as_text=True))
    response = client.post(
        "/admin/digests/test",
        data={
            "csrf_token": token,
            "to": to,
            "frequency": "weekly",
            "lang": "it",
            "topics": "governance",
        },
        follow_redirects=True,
    )
    assert response.status_code in (200, 422)
    return response.get_data(as_text=True)


def _queued_to(address: str) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count(Delivery.id)).where(
                Delivery.kind == DeliveryKind.TEST, Delivery.to_address == address
            )
        )
        or 0
    )


def test_editor_outside_sends_are_limited_per_hour_team_sends_are_not(
    app: Flask, editor_user: User, admin_user: User, digest_content: None
) -> None:
    start = utcnow()
    with time_machine.travel(start, tick=False):
        editor = login(browser(app), EDITOR_EMAIL)
        for i in range(LIMIT):
            _send(editor, f"amico{i}@example.org")
        refused = _send(editor, "sconosciuto@example.org")
        assert _queued_to("sconosciuto@example.org") == 0
        assert "test sends per hour" in refused
        # The team's own addresses (accounts of the admin area) are never limited.
        for _ in range(LIMIT + 2):
            _send(editor, ADMIN_EMAIL)
        _send(editor, EDITOR_EMAIL)
        assert _queued_to(ADMIN_EMAIL) == LIMIT + 2
        assert _queued_to(EDITOR_EMAIL) == 1
        # Administrators are not limited.
        admin = login(browser(app), ADMIN_EMAIL)
        _send(admin, "sconosciuto@example.org")
        assert _queued_to("sconosciuto@example.org") == 1
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        editor = login(browser(app), EDITOR_EMAIL)
        _send(editor, "altro@example.org")  # an hour later the editor may again
        assert _queued_to("altro@example.org") == 1
