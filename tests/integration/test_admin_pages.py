"""Admin pages: subscriber search and history, articles (search, filter, hide/restore, audit),
sources with their last fetch, the audit log, and the extension points for other domains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin.extend import NavItem, ObjectAction, register_action, register_nav
from newsletter.admin.models import AuditEntry, UserRole
from newsletter.articles.models import Article, SourceKind
from newsletter.audit import Actor
from newsletter.db import utcnow
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Frequency,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from tests.fixtures.admin import (
    EDITOR_EMAIL,
    FAST_HASHING,
    csrf_token,
    login,
    make_article,
    make_source,
)


def _subscriber(email: str, **fields: object) -> Subscriber:
    subscriber = Subscriber(email=email, **fields)
    db.session.add(subscriber)
    db.session.flush()
    return subscriber


def test_subscriber_search_exact_and_substring(admin_client: FlaskClient) -> None:
    _subscriber("anna.rossi@example.org")
    _subscriber("mario.rossi@example.org")
    _subscriber("luca_bianchi@example.org")
    db.session.commit()
    part = admin_client.get("/admin/subscribers?q=ROSSI").get_data(as_text=True)
    assert "anna.rossi@example.org" in part
    assert "mario.rossi@example.org" in part
    assert "luca_bianchi" not in part
    exact = admin_client.get("/admin/subscribers?q=anna.rossi@example.org&match=exact").get_data(
        as_text=True
    )
    assert "anna.rossi@example.org" in exact
    assert "mario.rossi" not in exact
    not_whole = admin_client.get("/admin/subscribers?q=rossi&match=exact").get_data(as_text=True)
    assert "example.org</a>" not in not_whole
    # LIKE wildcards in the query are literal characters.
    underscore = admin_client.get("/admin/subscribers?q=o_").get_data(as_text=True)
    assert "@example.org</a>" not in underscore
    assert "luca_bianchi" in admin_client.get("/admin/subscribers?q=a_b").get_data(as_text=True)


def test_subscriber_page_shows_profile_and_consent_history(admin_client: FlaskClient) -> None:
    crema = db.session.scalar(sa.select(Municipality).where(Municipality.name == "Crema"))
    assert crema is not None  # seeded by migration 0002
    now = utcnow()
    subscriber = _subscriber(
        "sindaco@comune.crema.example",
        status=SubscriberStatus.ACTIVE,
        role=Role.MAYOR,
        frequency=Frequency.WEEKLY,
        municipality=crema,
    )
    energy = db.session.scalar(sa.select(Topic).where(Topic.slug == "energy"))
    db.session.add(Subscription(subscriber_id=subscriber.id, topic=energy))
    for action, minutes in ((ConsentAction.IMPORT, 60), (ConsentAction.PREFERENCES, 5)):
        db.session.add(
            ConsentEvent(
                subscriber_id=subscriber.id,
                action=action,
                occurred_at=now - timedelta(minutes=minutes),
                notice_version="2026-11",
                channel="cli",
                actor="amministrazione@consorzio.example",
            )
        )
    db.session.commit()
    page = admin_client.get(f"/admin/subscribers/{subscriber.id}").get_data(as_text=True)
    for text in ("sindaco@comune.crema.example", ">sindaco<", "Crema", "Energia", "settimanale"):
        assert text in page
    assert page.index("preferenze modificate") < page.index("importazione")  # newest first
    assert "amministrazione@consorzio.example" in page
    assert admin_client.get("/admin/subscribers/999999").status_code == 404


def test_articles_search_and_topic_filter(editor_client: FlaskClient) -> None:
    source = make_source()
    make_article(source, "Rete ciclabile del Cremasco", ("mobility",))
    make_article(source, "Bus a chiamata", ("mobility", "welfare"))
    make_article(source, "Comunità energetiche", ("energy",))
    db.session.commit()
    page = editor_client.get("/admin/articles?q=CICLABILE").get_data(as_text=True)
    assert "Rete ciclabile" in page
    assert "Bus a chiamata" not in page
    mobility = editor_client.get("/admin/articles?topic=mobility").get_data(as_text=True)
    assert "Rete ciclabile" in mobility
    assert "Bus a chiamata" in mobility
    assert "Comunità energetiche" not in mobility


def test_hide_and_restore_an_article_is_audited(
    app: Flask, editor_client: FlaskClient, editor_user: object
) -> None:
    article = make_article(make_source(), "Assemblea dei sindaci", ("governance",))
    article.updated_at = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.commit()
    token = csrf_token(editor_client.get("/admin/articles").get_data(as_text=True))
    response = editor_client.post(
        f"/admin/articles/{article.id}/hide",
        data={"csrf_token": token, "next": "/admin/articles?visibility=hidden"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/articles?visibility=hidden"
    db.session.expire_all()
    hidden_article = db.session.get(Article, article.id)
    assert hidden_article is not None
    assert hidden_article.hidden is True
    # feeds and the API read updated_at as the article's content version
    assert hidden_article.updated_at > datetime(2026, 1, 1, tzinfo=UTC)
    hidden_list = editor_client.get("/admin/articles?visibility=hidden").get_data(as_text=True)
    assert "Assemblea dei sindaci" in hidden_list
    assert "Assemblea dei sindaci" not in editor_client.get(
        "/admin/articles?visibility=visible"
    ).get_data(as_text=True)
    editor_client.post(
        f"/admin/articles/{article.id}/restore",
        data={"csrf_token": token, "next": "https://evil.example/"},
    )
    db.session.expire_all()
    assert db.session.get(Article, article.id).hidden is False  # type: ignore[union-attr]
    entries = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action.like("article.%")).order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("article.hide", EDITOR_EMAIL, f"article:{article.id}"),
        ("article.restore", EDITOR_EMAIL, f"article:{article.id}"),
    ]
    assert entries[0].details == {"title": "Assemblea dei sindaci"}
    assert (
        editor_client.post("/admin/articles/999999/hide", data={"csrf_token": token}).status_code
        == 404
    )


def test_sources_show_their_last_fetch(editor_client: FlaskClient) -> None:
    make_source(
        "Parco del Serio",
        kind=SourceKind.FEED,
        url="https://parco.example/atom.xml",
        poll=True,
        last_fetched_at=utcnow(),
        last_status="error",
        last_error="HTTP 503 from parco.example",
    )
    db.session.commit()
    page = editor_client.get("/admin/sources").get_data(as_text=True)
    assert "Parco del Serio" in page
    assert "HTTP 503 from parco.example" in page
    assert "status-error" in page


def test_audit_log_lists_and_filters(admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "user.login" in page
    only = admin_client.get("/admin/audit?action=article.hide").get_data(as_text=True)
    assert "<td>user.login</td>" not in only


def test_extension_points_show_actions_to_the_right_role(
    app: Flask, admin_client: FlaskClient, editor_client: FlaskClient
) -> None:
    """Another domain adds a page and buttons without touching the admin templates."""
    register_nav(app, NavItem("Roster import", "admin.users", UserRole.ADMIN))
    register_action(
        app,
        "subscriber",
        ObjectAction(
            "Erase",
            "admin.hide_article",
            UserRole.ADMIN,
            method="post",
            confirm="Sure?",
            danger=True,
        ),
    )
    register_action(app, "article", ObjectAction("Edit topics", "admin.article", UserRole.EDITOR))
    register_action(
        app, "article", ObjectAction("Admin-only thing", "admin.article", UserRole.ADMIN)
    )
    subscriber = _subscriber("x@example.org")
    article = make_article(make_source(), "Titolo", ("energy",))
    db.session.commit()
    sub_page = admin_client.get(f"/admin/subscribers/{subscriber.id}").get_data(as_text=True)
    assert f'action="/admin/articles/{subscriber.id}/hide"' in sub_page
    assert 'class="danger">Erase</button>' in sub_page
    assert "Roster import" in sub_page
    editor_page = editor_client.get(f"/admin/articles/{article.id}").get_data(as_text=True)
    assert f'href="/admin/articles/{article.id}">Edit topics</a>' in editor_page
    assert "Admin-only thing" not in editor_page
    assert "Roster import" not in editor_page


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def test_another_domains_admin_page_gets_the_layout_and_role_check(
    database_url: str, tmp_path: Path, app: Flask
) -> None:
    """What the integrator does for digests, roster, tokens: a blueprint under /admin."""
    from flask import Blueprint, render_template_string

    from newsletter.admin import auth
    from tests.conftest import make_app

    other = make_app(database_url, tmp_path / "other", **FAST_HASHING)
    bp = Blueprint("admin_digests", __name__, url_prefix="/admin/digests")

    @bp.get("/")
    @auth.require_role(UserRole.ADMIN)
    def index() -> str:
        return render_template_string(
            '{% extends "admin/layout.html" %}{% block admin_content %}<h1>Anteprime</h1>'
            "{% endblock %}"
        )

    other.register_blueprint(bp)
    register_nav(other, NavItem("Anteprime", "admin_digests.index", UserRole.ADMIN))
    with other.app_context():
        auth.create_user(
            "a@consorzio.example", UserRole.ADMIN, "Tortelli-cremaschi-2026", actor=Actor("tests")
        )
        auth.create_user(
            "e@consorzio.example", UserRole.EDITOR, "Tortelli-cremaschi-2026", actor=Actor("tests")
        )
        db.session.commit()
    # Requests outside that context: each gets its own, as in production.
    admin = login(other.test_client(), "a@consorzio.example")
    page = admin.get("/admin/digests/").get_data(as_text=True)
    assert '<a href="/admin/digests/" aria-current="page">Anteprime</a>' in page
    assert "Registro delle attività" in page  # the whole admin navigation
    editor = login(other.test_client(), "e@consorzio.example")
    assert editor.get("/admin/digests/").status_code == 403
    assert "Anteprime" not in editor.get("/admin/").get_data(as_text=True)
