"""Admin round 2: digest previews and test sends (to a real aiosmtpd relay), retry of failed
deliveries, the job schedule, article topics, roster import/export, unsubscribe and erase."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from datetime import timedelta
from io import BytesIO
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin.models import AuditEntry
from newsletter.articles.models import Article, TopicAssignment
from newsletter.articles.service import parse_article, upsert_and_commit
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.digests.service import period_due
from newsletter.extensions import db
from newsletter.reference.models import Municipality
from newsletter.subscriptions.models import Subscriber, SubscriberStatus
from tests.fixtures.admin import ADMIN_EMAIL, FAST_HASHING, csrf_token, make_article, make_source
from tests.fixtures.delivery import Relay, add_subscribers, enqueue_digest, make_digest


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def _token(client: FlaskClient, url: str = "/admin/") -> str:
    return csrf_token(client.get(url).get_data(as_text=True))


def _audited(action: str) -> list[AuditEntry]:
    query = sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


def _crema() -> Municipality:
    town = db.session.scalar(sa.select(Municipality).where(Municipality.name == "Crema"))
    assert town is not None  # seeded by migration 0002
    town.istat_code = "019035"
    db.session.commit()
    return town


# --- digests --------------------------------------------------------------------------------


def test_mayor_preview_shows_text_and_a_sandboxed_html_frame(editor_client: FlaskClient) -> None:
    _crema()
    published = period_due("weekly").start + timedelta(hours=3)
    make_article(
        make_source(),
        "Nuovo bus per Crema",
        ("mobility",),
        published_at=published,
        created_at=published,
    )
    db.session.commit()
    query = "/admin/digests/preview?frequency=weekly&lang=it&mayor=Crema"
    page = editor_client.get(query)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nuovo bus per Crema" in body
    assert "<iframe" in body
    assert 'sandbox=""' in body
    assert "/admin/digests/preview/html?" in body
    html = editor_client.get("/admin/digests/preview/html?frequency=weekly&lang=it&mayor=Crema")
    assert html.status_code == 200
    csp = html.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in csp
    assert "sandbox" in csp
    assert "script-src" not in csp
    assert "default-src 'none'" in csp
    assert "Nuovo bus per Crema" in html.get_data(as_text=True)
    # The admin page itself keeps the strict policy.
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


def test_preview_of_an_unknown_municipality_is_a_clear_error(editor_client: FlaskClient) -> None:
    page = editor_client.get("/admin/digests/preview?frequency=weekly&lang=it&mayor=Atlantide")
    assert page.status_code in (404, 422)
    assert "Atlantide" in page.get_data(as_text=True)
    no_topics = editor_client.get("/admin/digests/preview?frequency=daily&lang=en")
    assert no_topics.status_code == 422
    assert "topic" in no_topics.get_data(as_text=True)


def test_test_send_is_queued_and_the_sender_delivers_it_to_a_real_relay(
    app: Flask, editor_client: FlaskClient, relay: Relay
) -> None:
    _crema()
    published = period_due("weekly").start + timedelta(hours=3)
    make_article(
        make_source(),
        "Bilancio del Consorzio",
        ("governance",),
        published_at=published,
        created_at=published,
    )
    db.session.commit()
    token = _token(editor_client, "/admin/digests/preview?frequency=weekly&lang=it&mayor=Crema")
    response = editor_client.post(
        "/admin/digests/test",
        data={
            "csrf_token": token,
            "to": "Prova@Example.org",
            "frequency": "weekly",
            "lang": "it",
            "mayor": "Crema",
        },
    )
    assert response.status_code == 302
    (row,) = db.session.scalars(sa.select(Delivery).where(Delivery.kind == DeliveryKind.TEST))
    assert row.to_address == "prova@example.org"
    assert row.status == DeliveryStatus.QUEUED
    assert row.payload == {"frequency": "weekly", "topics": [], "lang": "it", "mayor": "Crema"}
    assert relay.handler.received == []  # nothing sent from the request
    assert [e.target for e in _audited("digest.test_send")] == ["prova@example.org"]

    relay.configure(app)
    report = Sender(app, SmtpRelayTransport.from_config(app.config)).run(
        threading.Event(), until_idle=True
    )
    assert report.sent == 1
    (received,) = relay.handler.received
    assert received.rcpt_tos == ["prova@example.org"]
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert str(message["Subject"]).startswith("[TEST] ")
    raw = received.content.decode("utf-8", "replace")
    assert "%%" not in raw
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert app.config["BASE_URL"].rstrip("/") + "/subscribe" in text
    assert "Bilancio del Consorzio" in text


def test_test_send_to_a_bad_address_queues_nothing(editor_client: FlaskClient) -> None:
    token = _token(editor_client, "/admin/digests/preview")
    response = editor_client.post(
        "/admin/digests/test",
        data={
            "csrf_token": token,
            "to": "not-an-address",
            "frequency": "weekly",
            "topics": "welfare",
            "lang": "it",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "not-an-address" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_retry_failed_requeues_only_failed_rows_and_keeps_attempts(
    editor_client: FlaskClient,
) -> None:
    digest = make_digest()
    db.session.add(digest)
    db.session.flush()
    ids = add_subscribers(3)
    enqueue_digest(digest.id, ids)
    rows = list(db.session.scalars(sa.select(Delivery).order_by(Delivery.id)))
    rows[0].status, rows[0].attempts = DeliveryStatus.FAILED, 4
    rows[1].status = DeliveryStatus.SENT
    db.session.commit()
    page = editor_client.get("/admin/digests").get_data(as_text=True)
    assert "failed: 1" in page
    assert "sent: 1" in page
    assert "queued: 1" in page
    token = csrf_token(page)
    response = editor_client.post(f"/admin/digests/{digest.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    statuses = [
        (r.status, r.attempts)
        for r in db.session.scalars(sa.select(Delivery).order_by(Delivery.id))
    ]
    assert statuses[0] == (DeliveryStatus.QUEUED, 4)
    assert statuses[1][0] == DeliveryStatus.SENT
    (entry,) = _audited("digest.retry_failed")
    assert entry.details == {"deliveries": 1}


def test_digest_page_lists_every_job_with_its_next_run(
    app: Flask, editor_client: FlaskClient
) -> None:
    from newsletter.scheduling.service import all_jobs

    page = editor_client.get("/admin/digests").get_data(as_text=True)
    names = [job.name for job in all_jobs(app)]
    assert names
    for name in names:
        assert f'<th scope="row">{name}</th>' in page
    assert page.count("<time datetime=") >= len(names)


# --- articles -------------------------------------------------------------------------------


def test_editor_topics_are_audited_and_survive_a_reimport(editor_client: FlaskClient) -> None:
    source = make_source()
    item = parse_article(
        {
            "external_id": "bus-1",
            "title": "Nuovo bus per Crema",
            "published_at": "2026-11-20T10:00:00+01:00",
            "topics": ["mobility"],
        }
    )
    article, _ = upsert_and_commit(source, item)
    token = _token(editor_client, f"/admin/articles/{article.id}")
    response = editor_client.post(
        f"/admin/articles/{article.id}/topics",
        data={"csrf_token": token, "topics": ["energy", "welfare"]},
    )
    assert response.status_code == 302

    def topics() -> set[tuple[str, str]]:
        db.session.expire_all()
        fresh = db.session.get(Article, article.id)
        assert fresh is not None
        return {(link.topic.slug, str(link.assigned_by)) for link in fresh.topic_links}

    editor = str(TopicAssignment.EDITOR)
    assert topics() == {("energy", editor), ("welfare", editor)}
    (entry,) = _audited("article.topics")
    assert entry.details == {"topics": ["energy", "welfare"]}
    changed = parse_article(
        {
            **item.__dict__,
            "published_at": "2026-11-21T10:00:00+01:00",
            "title": "Nuovo bus per Crema (aggiornato)",
            "topics": ["mobility"],
        }
    )
    upsert_and_commit(db.session.get(type(source), source.id), changed)  # type: ignore[arg-type]
    assert topics() == {("energy", editor), ("welfare", editor)}


def test_saving_no_topic_is_a_form_error(editor_client: FlaskClient) -> None:
    article = make_article(make_source(), "Bilancio", ("governance",))
    db.session.commit()
    token = _token(editor_client, f"/admin/articles/{article.id}")
    page = editor_client.post(
        f"/admin/articles/{article.id}/topics",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "choose at least one topic" in page.get_data(as_text=True)
    assert _audited("article.topics") == []


# --- roster ---------------------------------------------------------------------------------

HEADER = "email,role,municipality,topics,frequency,locale,name\n"


def _upload(client: FlaskClient, url: str, text: str, **data: str) -> Any:
    token = _token(client, "/admin/roster")
    return client.post(
        url,
        data={"csrf_token": token, "file": (BytesIO(text.encode()), "roster.csv"), **data},
        content_type="multipart/form-data",
    )


def _subscriber_count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) or 0)


def test_roster_dry_run_lists_bad_rows_and_imports_nothing(admin_client: FlaskClient) -> None:
    _crema()
    text = (
        HEADER + "sindaco@comune.crema.cr.it,mayor,Crema,welfare,weekly,it,Sindaco\n"
        "vice@comune.crema.cr.it,wizard,Crema,welfare,weekly,it,Vice\n"
    )
    page = _upload(admin_client, "/admin/roster/import", text, mode="dry-run")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "line 3:" in body
    assert "wizard" in body
    assert _subscriber_count() == 0
    refused = _upload(admin_client, "/admin/roster/import", text, mode="commit")
    assert refused.status_code == 422
    assert "line 3:" in refused.get_data(as_text=True)
    assert _subscriber_count() == 0
    assert _audited("roster.import") == []

    good = HEADER + "sindaco@comune.crema.cr.it,mayor,Crema,welfare,weekly,it,Sindaco\n"
    done = _upload(admin_client, "/admin/roster/import", good, mode="commit")
    assert done.status_code == 302
    assert _subscriber_count() == 1
    assert len(_audited("roster.import")) == 1


def test_municipalities_import_and_exports(admin_client: FlaskClient) -> None:
    response = _upload(
        admin_client, "/admin/roster/municipalities", "name,istat_code\nOffanengo,019063\n"
    )
    assert response.status_code == 302
    assert (
        db.session.scalar(
            sa.select(Municipality.istat_code).where(Municipality.name == "Offanengo")
        )
        == "019063"
    )
    bad = _upload(admin_client, "/admin/roster/municipalities", "name,istat_code\nX,abc\n")
    assert bad.status_code == 422
    assert "line 2" in bad.get_data(as_text=True)
    add_subscribers(2, prefix="export")
    db.session.commit()
    csv_body = admin_client.get("/admin/roster/export.csv")
    assert csv_body.headers["Content-Disposition"].startswith("attachment")
    assert "export0@" in csv_body.get_data(as_text=True)
    rows = json.loads(admin_client.get("/admin/roster/export.json").get_data(as_text=True))
    assert "export1@" in json.dumps(rows)
    assert len(_audited("subscribers.export")) == 2
    assert len(_audited("municipalities.import")) == 1


# --- subscribers ----------------------------------------------------------------------------


def test_unsubscribe_and_erase_need_the_confirmation_box(admin_client: FlaskClient) -> None:
    (sid,) = add_subscribers(1, prefix="persona")
    db.session.commit()
    token = _token(admin_client, f"/admin/subscribers/{sid}")
    url = f"/admin/subscribers/{sid}"
    admin_client.post(url + "/unsubscribe", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Subscriber, sid).status == SubscriberStatus.ACTIVE  # type: ignore[union-attr]
    admin_client.post(url + "/unsubscribe", data={"csrf_token": token, "confirm": "yes"})
    db.session.expire_all()
    assert db.session.get(Subscriber, sid).status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    assert [e.target for e in _audited("subscriber.unsubscribe")] == [f"subscriber:{sid}"]

    admin_client.post(url + "/erase", data={"csrf_token": token})
    assert db.session.get(Subscriber, sid) is not None
    erased = admin_client.post(url + "/erase", data={"csrf_token": token, "confirm": "yes"})
    assert erased.status_code == 302
    assert erased.headers["Location"].endswith("/admin/subscribers")
    db.session.expire_all()
    assert db.session.get(Subscriber, sid) is None
    assert [e.target for e in _audited("subscriber.erase")] == [f"subscriber:{sid}"]


# --- roles ----------------------------------------------------------------------------------


def test_editors_get_403_on_admin_only_actions(editor_client: FlaskClient) -> None:
    (sid,) = add_subscribers(1, prefix="altro")
    db.session.commit()
    token = _token(editor_client)
    for url in ("/admin/roster", "/admin/roster/export.csv", "/admin/roster/export.json"):
        assert editor_client.get(url).status_code == 403, url
    for url in (
        "/admin/roster/import",
        "/admin/roster/municipalities",
        f"/admin/subscribers/{sid}/unsubscribe",
        f"/admin/subscribers/{sid}/erase",
    ):
        assert (
            editor_client.post(url, data={"csrf_token": token, "confirm": "yes"}).status_code == 403
        ), url
    db.session.expire_all()
    assert db.session.get(Subscriber, sid).status == SubscriberStatus.ACTIVE  # type: ignore[union-attr]


# --- sources, tokens, users -----------------------------------------------------------------


def test_editor_registers_a_feed_and_a_failed_poll_is_a_clear_message(
    editor_client: FlaskClient,
) -> None:
    from newsletter.articles.models import Source
    from tests.fixtures.delivery import free_tcp_port

    url = f"http://127.0.0.1:{free_tcp_port()}/feed.xml"  # nothing listens there
    token = _token(editor_client, "/admin/sources")
    added = editor_client.post(
        "/admin/sources/add", data={"csrf_token": token, "url": url, "name": "Comune di prova"}
    )
    assert added.status_code == 302
    source = db.session.scalar(sa.select(Source).where(Source.url == url))
    assert source is not None
    assert source.poll is True
    assert [e.target for e in _audited("source.add")] == [url]
    bad = editor_client.post(
        "/admin/sources/add",
        data={"csrf_token": token, "url": "ftp://example.org/x"},
        follow_redirects=True,
    )
    assert "ftp://example.org/x" in bad.get_data(as_text=True)

    page = editor_client.post(
        f"/admin/sources/{source.id}/poll", data={"csrf_token": token}, follow_redirects=True
    )
    assert page.status_code == 200
    assert "cannot connect" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Source, source.id).last_status == "error"  # type: ignore[union-attr]
    assert len(_audited("source.poll")) == 1


def test_admin_creates_shows_once_and_revokes_an_api_token(admin_client: FlaskClient) -> None:
    from newsletter.api.models import ApiToken
    from newsletter.api.service import authenticate
    from newsletter.exceptions import Unauthorized

    token = _token(admin_client, "/admin/tokens")
    page = admin_client.post("/admin/tokens", data={"csrf_token": token, "name": "CMS Crema"})
    body = page.get_data(as_text=True)
    secret = body.split('<code class="new-token">')[1].split("</code>")[0]
    assert authenticate(f"Bearer {secret}").name == "CMS Crema"
    assert secret not in admin_client.get("/admin/tokens").get_data(as_text=True)
    record = db.session.scalar(sa.select(ApiToken))
    assert record is not None
    revoked = admin_client.post(f"/admin/tokens/{record.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 302
    db.session.expire_all()
    with pytest.raises(Unauthorized):
        authenticate(f"Bearer {secret}")
    assert [
        e.action
        for e in db.session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.action.like("api_token.%"))
            .order_by(AuditEntry.id)
        )
    ] == ["api_token.create", "api_token.revoke"]


def test_admin_creates_an_editor_account(app: Flask, admin_client: FlaskClient) -> None:
    from newsletter.admin.auth import authenticate
    from newsletter.admin.models import User, UserRole

    token = _token(admin_client, "/admin/users")
    weak = admin_client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": "nuova@consorzio.example",
            "role": "editor",
            "password": "short",
        },
        follow_redirects=True,
    )
    assert "password too short" in weak.get_data(as_text=True)
    created = admin_client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": "nuova@consorzio.example",
            "role": "editor",
            "password": "Salva-la-torta-bertolina",
        },
    )
    assert created.status_code == 302
    user = authenticate("nuova@consorzio.example", "Salva-la-torta-bertolina").user
    assert user.role == UserRole.EDITOR
    *_fixtures_accounts, entry = _audited("user.create")  # the fixture's admin is audited too
    assert entry.target == f"user:{user.id}"
    assert entry.actor == ADMIN_EMAIL
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2


def test_editors_get_403_on_tokens_and_users(editor_client: FlaskClient) -> None:
    token = _token(editor_client)
    assert editor_client.get("/admin/tokens").status_code == 403
    for url in ("/admin/tokens", "/admin/tokens/1/revoke", "/admin/users"):
        response = editor_client.post(
            url,
            data={
                "csrf_token": token,
                "name": "x",
                "email": "a@b.example",
                "role": "admin",
                "password": "Salva-la-torta-bertolina",
            },
        )
        assert response.status_code == 403, url


def test_a_test_send_whose_variant_is_gone_is_cancelled_not_retried(
    app: Flask, relay: Relay
) -> None:
    db.session.add(
        Delivery(
            kind=DeliveryKind.TEST,
            to_address="prova@example.org",
            payload={"frequency": "weekly", "topics": [], "lang": "it", "mayor": "Atlantide"},
        )
    )
    db.session.commit()
    relay.configure(app)
    Sender(app, SmtpRelayTransport.from_config(app.config)).run(threading.Event(), until_idle=True)
    assert relay.handler.received == []
    db.session.expire_all()
    assert db.session.scalar(sa.select(Delivery.status)) == DeliveryStatus.CANCELLED


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Comune di prova</title><link>http://example.org/</link>
<description>Notizie</description>
<item><title>Nuovo orario della biblioteca</title><link>http://example.org/biblioteca</link>
<guid>biblioteca-1</guid><pubDate>Fri, 20 Nov 2026 09:00:00 +0100</pubDate>
<description>La biblioteca comunale cambia orario.</description></item>
</channel></rss>"""


def test_poll_now_imports_the_feed(editor_client: FlaskClient) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from newsletter.articles.models import Source

    class Feed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(RSS)))
            self.end_headers()
            self.wfile.write(RSS)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/feed.xml"
        token = _token(editor_client, "/admin/sources")
        editor_client.post("/admin/sources/add", data={"csrf_token": token, "url": url})
        source = db.session.scalar(sa.select(Source).where(Source.url == url))
        assert source is not None
        page = editor_client.post(
            f"/admin/sources/{source.id}/poll", data={"csrf_token": token}, follow_redirects=True
        )
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert page.status_code == 200
    titles = list(
        db.session.scalars(sa.select(Article.title).where(Article.source_id == source.id))
    )
    assert titles == ["Nuovo orario della biblioteca"]
    db.session.expire_all()
    assert db.session.get(Source, source.id).last_status == "ok"  # type: ignore[union-attr]
