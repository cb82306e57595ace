"""Editors correct the comuni of an article in the admin area; the correction is audited and
survives re-imports."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from newsletter.admin.models import AuditEntry
from newsletter.articles.models import Article, ArticleMunicipalityEdit
from newsletter.articles.service import parse_article, upsert_and_commit
from newsletter.extensions import db
from newsletter.reference.service import municipality_by_name
from tests.fixtures.admin import csrf_token, make_source


def _names(article_id: int) -> list[str]:
    db.session.expire_all()
    fresh = db.session.get(Article, article_id)
    assert fresh is not None
    return sorted(link.municipality.name for link in fresh.municipality_links)


def test_editor_adds_and_removes_comuni_and_reimports_keep_it(editor_client: FlaskClient) -> None:
    source = make_source()
    data = {
        "external_id": "ciclabile-1",
        "title": "Ciclabile tra Crema e Ombriano: si parte",
        "published_at": "2026-11-20T10:00:00+01:00",
        "body": "Il cantiere coinvolge anche Bagnolo.",
        "topics": ["mobility"],
    }
    article, _ = upsert_and_commit(source, parse_article(data))
    # "Bagnolo" alone with the area named counts as Bagnolo Cremasco; Ombriano is Crema
    assert _names(article.id) == ["Bagnolo Cremasco", "Crema"]

    page = editor_client.get(f"/admin/articles/{article.id}").get_data(as_text=True)
    assert 'id="comuni-heading"' in page
    token = csrf_token(page)
    bagnolo = municipality_by_name("Bagnolo Cremasco").id
    vaiano = municipality_by_name("Vaiano Cremasco").id
    url = f"/admin/articles/{article.id}/municipalities"
    removed = editor_client.post(
        url, data={"csrf_token": token, "municipality": bagnolo, "action": "remove"}
    )
    assert removed.status_code == 302
    added = editor_client.post(
        url, data={"csrf_token": token, "municipality": vaiano, "action": "add"}
    )
    assert added.status_code == 302
    assert _names(article.id) == ["Crema", "Vaiano Cremasco"]
    actions = sorted(
        a for a in db.session.scalars(sa.select(AuditEntry.action)) if a.startswith("article")
    )
    assert actions == ["article.municipality.add", "article.municipality.remove"]
    edit = db.session.get(ArticleMunicipalityEdit, (article.id, vaiano))
    assert edit is not None
    assert edit.edited_by == "redazione@consorzio.example"  # the signed-in editor

    # the CMS sends the article again, changed: detection runs, the corrections stay
    upsert_and_commit(
        db.session.get(type(source), source.id),  # type: ignore[arg-type]
        parse_article({**data, "body": "Il cantiere coinvolge anche Bagnolo e Offanengo."}),
    )
    assert _names(article.id) == ["Crema", "Offanengo", "Vaiano Cremasco"]
    page = editor_client.get(f"/admin/articles/{article.id}").get_data(as_text=True)
    assert "Bagnolo Cremasco" in page.split("Tolti in redazione:")[1].split("</p>")[0]

    bad = editor_client.post(
        url, data={"csrf_token": token, "municipality": "nope", "action": "add"}
    )
    assert bad.status_code == 302
    assert _names(article.id) == ["Crema", "Offanengo", "Vaiano Cremasco"]
