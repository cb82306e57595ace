"""Every state-changing admin route refuses a request without a CSRF token.

The routes are read from ``app.url_map``, so a POST route added later is covered too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin.models import AuditEntry
from newsletter.articles.models import Article
from newsletter.extensions import db
from tests.fixtures.admin import FAST_HASHING, make_article, make_source


def _admin_post_urls(app: Flask, object_id: int) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or not (
            {"POST", "PUT", "PATCH", "DELETE"} & set(rule.methods or ())
        ):
            continue
        urls.append(re.sub(r"<(?:int:)?\w+>", str(object_id), rule.rule))
    return urls


def test_admin_posts_without_csrf_token_are_refused(app: Flask, admin_client: FlaskClient) -> None:
    article = make_article(make_source(), "Bilancio del Consorzio", ("governance",))
    db.session.commit()
    urls = _admin_post_urls(app, article.id)
    assert {
        "/admin/login",
        "/admin/logout",
        f"/admin/articles/{article.id}/hide",
        f"/admin/articles/{article.id}/topics",
        "/admin/digests/test",
        f"/admin/digests/{article.id}/retry",
        "/admin/roster/import",
        "/admin/roster/municipalities",
        f"/admin/subscribers/{article.id}/unsubscribe",
        f"/admin/subscribers/{article.id}/erase",
        "/admin/sources/add",
        f"/admin/sources/{article.id}/poll",
        "/admin/tokens",
        f"/admin/tokens/{article.id}/revoke",
        "/admin/users",
    } <= set(urls)
    audited = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    for url in urls:
        response = admin_client.post(
            url,
            data={"email": "x@example.org", "password": "y", "confirm": "yes"},
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 400, url
        assert "CSRF" in response.get_data(as_text=True), url
        wrong = admin_client.post(url, data={"csrf_token": "forged"})
        assert wrong.status_code == 400, url
    db.session.expire_all()
    assert db.session.get(Article, article.id).hidden is False  # type: ignore[union-attr]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audited
    assert admin_client.get("/admin/").status_code == 200  # still signed in: logout was refused


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)
