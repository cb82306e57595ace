"""The public archive: editions newest first, in both languages; 404 for anything else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.digests.models import Digest, DigestKind
from newsletter.digests.service import build_digests
from newsletter.extensions import db
from tests.fixtures.digests import WEEKLY_FIRE


def _edition(locale: str) -> Digest:
    found = db.session.scalar(
        sa.select(Digest).where(Digest.kind == DigestKind.EDITION, Digest.locale == locale)
    )
    assert found is not None
    return found


def test_archive_lists_editions_in_the_readers_language(
    app: Flask, client: FlaskClient, digest_data: Callable[..., Any]
) -> None:
    digest_data()
    build_digests("weekly", WEEKLY_FIRE)
    italian = client.get("/archive").get_data(as_text=True)
    assert "Archivio della newsletter" in italian
    assert f'href="/archive/{_edition("it").id}"' in italian
    assert "Edizione settimanale del 23 novembre 2026" in italian
    assert "3 articoli" in italian
    assert f'href="/archive/{_edition("en").id}"' not in italian

    english = client.get("/archive?lang=en").get_data(as_text=True)
    assert "Weekly edition of 23 November 2026" in english
    assert f'href="/archive/{_edition("en").id}"' in english


def test_an_edition_page_shows_its_sections_and_hides_hidden_articles(
    app: Flask, client: FlaskClient, digest_data: Callable[..., Any]
) -> None:
    data = digest_data()
    build_digests("weekly", WEEKLY_FIRE)
    edition = _edition("it")
    page = client.get(f"/archive/{edition.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index(">Welfare</h2>") < html.index(">Mobilità</h2>") < html.index(">Energia</h2>")
    assert "Rete Ciclabile del Cremasco" in html
    assert "https://newsletter.example.org/subscribe" in html
    assert "%%" not in html

    data["bikes"].hidden = True
    db.session.commit()
    assert "Rete Ciclabile" not in client.get(f"/archive/{edition.id}").get_data(as_text=True)


def test_unknown_ids_and_personal_digests_are_404(
    app: Flask, client: FlaskClient, digest_data: Callable[..., Any]
) -> None:
    digest_data()
    build_digests("weekly", WEEKLY_FIRE)
    citizen = db.session.scalar(sa.select(Digest).where(Digest.kind == DigestKind.CITIZEN))
    assert citizen is not None
    assert client.get(f"/archive/{citizen.id}").status_code == 404
    assert client.get("/archive/999999").status_code == 404
    assert client.get("/archive/abc").status_code == 404


def test_archive_is_paginated_newest_first(app: Flask, client: FlaskClient) -> None:
    for week in range(25):
        end = WEEKLY_FIRE - timedelta(days=7 * week)
        db.session.add(
            Digest(
                audience_key="edition:weekly:it",
                period_key=f"weekly:test-{week}",
                kind=DigestKind.EDITION,
                frequency="weekly",
                locale="it",
                window_start=end - timedelta(days=7),
                window_end=end,
                subject=f"Settimana {week}",
                html="",
                text="",
                article_count=1,
            )
        )
    db.session.commit()
    first = client.get("/archive").get_data(as_text=True)
    assert "Pagina 1 di 2" in first
    assert first.index("23 novembre 2026") < first.index("16 novembre 2026")
    assert 'rel="next"' in first
    second = client.get("/archive?page=2").get_data(as_text=True)
    assert second.count('href="/archive/') == 5
    assert 'rel="prev"' in second
    assert client.get("/archive?page=99").status_code == 200
