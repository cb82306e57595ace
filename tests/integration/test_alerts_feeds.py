"""Feeds of urgent alerts: /feeds/avvisi.rss|.atom|.json, the CAP index /feeds/avvisi.cap and
/feeds/comuni/<slug>/avvisi.atom. Valid (feedparser, RFC 4287's schema, JSON Feed 1.1), the right
alerts, stable bytes and ETags, 304s, the fast path, renamed comuni redirect, WebSub pings."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import feedparser
import pytest
import sqlalchemy as sa
from flask import Flask, request
from flask.testing import FlaskClient
from lxml import etree

from newsletter.alerts import service
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.extensions import db
from newsletter.reference import service as reference
from tests.integration.test_alerts_public import CAP_SCHEMA, EDITOR, ISSUED, alert_in, issue
from tests.integration.test_feeds_http import ATOM_SCHEMA, MIMETYPES, assert_valid_json_feed

BASE = "https://newsletter.example.org"
ALERT_FEEDS = ["/feeds/avvisi.rss", "/feeds/avvisi.atom", "/feeds/avvisi.json", "/feeds/avvisi.cap"]
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"FEEDS_VERSION_TTL": 0}


@pytest.fixture
def alerts(app: Flask, feed_cache: Any) -> dict[str, int]:
    """Four public alerts (one cancelled, one expired) and one awaiting approval."""
    made = {
        "crema": issue(now=ISSUED, headline="Crema: via Mazzini chiusa", municipalities=["Crema"]),
        "offanengo": issue(
            now=ISSUED + timedelta(minutes=10),
            headline="Offanengo: acqua non potabile",
            municipalities=["Offanengo"],
            severity="severe",
            topic="welfare",
        ),
        "everywhere": issue(
            now=ISSUED + timedelta(minutes=20),
            headline="Allerta meteo arancione nel Cremasco",
            municipalities=["*"],
            severity="extreme",
        ),
        "expired": issue(
            now=ISSUED + timedelta(minutes=30),
            headline="Crema: mercato spostato",
            municipalities=["Crema"],
            starts_at=ISSUED.isoformat(),
            expires_at=(ISSUED + timedelta(hours=2)).isoformat(),
        ),
    }
    service.cancel(made["offanengo"], actor=EDITOR, now=ISSUED + timedelta(hours=1))
    made["pending"] = service.issue(
        alert_in(headline="In attesa di approvazione", severity="severe"), actor=EDITOR
    ).alert_id
    db.session.commit()
    return made


def entry_links(path: str, client: FlaskClient) -> list[str]:
    parsed = feedparser.parse(client.get(path).data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return [
        next(link.href for link in e.links if link.get("type", "text/html") == "text/html")
        for e in parsed.entries
    ]


@pytest.mark.parametrize("path", ALERT_FEEDS)
def test_every_alert_feed_is_valid_and_lists_the_public_alerts_latest_change_first(
    client: FlaskClient, alerts: dict[str, int], path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    fmt = path.rsplit(".", 1)[1]
    assert response.headers["Content-Type"] == MIMETYPES["atom" if fmt == "cap" else fmt]
    assert response.headers["Cache-Control"] == "public, max-age=300"
    order = ["offanengo", "expired", "everywhere", "crema"]  # the cancellation is the newest
    if fmt == "json":
        feed = json.loads(response.data)
        assert_valid_json_feed(feed)
        assert [i["url"] for i in feed["items"]] == [f"{BASE}/avvisi/{alerts[k]}" for k in order]
        first = feed["items"][0]
        assert first["title"] == "Revocato: Offanengo: acqua non potabile"
        assert first["_cap"]["url"] == f"{BASE}/avvisi/{alerts['offanengo']}.cap"
        assert first["_cap"]["msgType"] == "Cancel"
        assert first["_cap"]["severity"] == "Severe"
        return
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.language == "it"
    assert [link.href for link in parsed.feed.links if link.rel == "self"] == [f"{BASE}{path}"]
    assert entry_links(path, client) == [f"{BASE}/avvisi/{alerts[k]}" for k in order]
    titles = [e.title for e in parsed.entries]
    assert titles[0] == "Revocato: Offanengo: acqua non potabile"
    assert "In attesa di approvazione" not in response.get_data(as_text=True)
    summary = parsed.entries[2].summary
    assert "gravità estrema" in summary
    assert "tutti i 48 comuni" in summary
    assert "10 gennaio 2030, 20:30" in summary  # Europe/Rome time
    if fmt in ("atom", "cap"):
        document = etree.fromstring(response.data)
        assert ATOM_SCHEMA.validate(document), ATOM_SCHEMA.error_log
        entry = document.find(f"{ATOM}entry")
        links = [(link.get("rel"), link.get("type")) for link in entry.findall(f"{ATOM}link")]
        assert links == [("alternate", "application/cap+xml"), ("alternate", "text/html")]
        assert entry.find(f"{ATOM}link").get("href") == f"{BASE}/avvisi/{alerts['offanengo']}.cap"
    if fmt == "cap":
        values = {
            etree.QName(child).localname: child.text
            for child in document.find(f"{ATOM}entry")
            if etree.QName(child).namespace == CAP_NS
        }
        assert values["msgType"] == "Cancel"
        assert values["severity"] == "Severe"
        assert values["areaDesc"] == "Offanengo"
        assert values["identifier"] == f"newsletter.example.org:AOC-{alerts['offanengo']}.2"
        # Each entry's CAP document is there and valid.
        for link in document.iterfind(f"{ATOM}entry/{ATOM}link[@type='application/cap+xml']"):
            cap = client.get(link.get("href").removeprefix(BASE))
            assert cap.status_code == 200
            assert CAP_SCHEMA.validate(etree.fromstring(cap.data)), CAP_SCHEMA.error_log


def test_a_comunes_alert_feed_has_its_alerts_and_the_all_area_ones(
    client: FlaskClient, alerts: dict[str, int]
) -> None:
    crema = entry_links("/feeds/comuni/crema/avvisi.atom", client)
    assert crema == [f"{BASE}/avvisi/{alerts[k]}" for k in ("expired", "everywhere", "crema")]
    offanengo = entry_links("/feeds/comuni/offanengo/avvisi.atom", client)
    assert offanengo == [f"{BASE}/avvisi/{alerts[k]}" for k in ("offanengo", "everywhere")]
    ripalta = entry_links("/feeds/comuni/ripalta-cremasca/avvisi.atom", client)
    assert ripalta == [f"{BASE}/avvisi/{alerts['everywhere']}"]
    response = client.get("/feeds/comuni/crema/avvisi.atom")
    assert response.headers["Content-Type"] == MIMETYPES["atom"]
    document = etree.fromstring(response.data)
    assert ATOM_SCHEMA.validate(document), ATOM_SCHEMA.error_log
    parsed = feedparser.parse(response.data)
    assert parsed.feed.title == "Area Omogenea Cremasca – Avvisi urgenti: Crema"
    assert [link.href for link in parsed.feed.links if link.rel == "alternate"] == [
        f"{BASE}/comuni/crema"
    ]
    assert client.get("/feeds/comuni/atlantide/avvisi.atom").status_code == 404
    assert client.get("/feeds/comuni/crema/avvisi.rss").status_code == 404


def test_a_renamed_comunes_old_alert_feed_redirects(
    client: FlaskClient, alerts: dict[str, int]
) -> None:
    reference.rename_municipality("Offanengo", "Offanengo Nuovo", actor=EDITOR)
    response = client.get("/feeds/comuni/offanengo/avvisi.atom")
    assert response.status_code == 301
    assert response.headers["Location"] == "/feeds/comuni/offanengo-nuovo/avvisi.atom"
    # The rename changes the names the entries show, at once.
    body = client.get("/feeds/avvisi.atom").get_data(as_text=True)
    assert "Offanengo Nuovo" in body


def test_alert_feeds_are_stable_conditional_and_move_with_each_release(
    client: FlaskClient, alerts: dict[str, int]
) -> None:
    first = client.get("/feeds/avvisi.atom")
    etag = first.headers["ETag"]
    assert first.headers["Last-Modified"]
    assert client.get("/feeds/avvisi.atom").data == first.data
    again = client.get("/feeds/avvisi.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304
    modified = {"If-Modified-Since": first.headers["Last-Modified"]}
    since = client.get("/feeds/avvisi.atom", headers=modified)
    assert since.status_code == 304
    service.update(
        alerts["crema"],
        alert_in(headline="Crema: via Mazzini riaperta a metà", municipalities=["Crema"]),
        actor=EDITOR,
        note="una corsia",
    )
    db.session.commit()
    changed = client.get("/feeds/avvisi.atom", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    parsed = feedparser.parse(changed.data)
    assert parsed.entries[0].title == "Crema: via Mazzini riaperta a metà"
    assert parsed.entries[0].id == f"tag:newsletter.example.org,2024:alert/{alerts['crema']}"
    # A pending alert is not public: approving nothing, nothing moves.
    assert client.get("/feeds/avvisi.atom").headers["ETag"] == changed.headers["ETag"]


def test_empty_alert_feeds_are_valid(client: FlaskClient, feed_cache: Any) -> None:
    for path in ALERT_FEEDS:
        response = client.get(path)
        assert response.status_code == 200, path
        if path.endswith(".json"):
            assert json.loads(response.data)["items"] == []
            continue
        assert feedparser.parse(response.data).bozo == 0, path
        if not path.endswith(".rss"):
            assert ATOM_SCHEMA.validate(etree.fromstring(response.data)), path


@pytest.mark.parametrize("app_overrides", [{"FEEDS_VERSION_TTL": 60.0}])
def test_fresh_alert_feeds_are_answered_by_the_fast_path(
    app: Flask, client: FlaskClient, alerts: dict[str, int]
) -> None:
    entered: list[str] = []
    app.before_request(lambda: entered.append(request.path) and None)
    for path in ("/feeds/avvisi.rss", "/feeds/avvisi.cap"):
        slow = client.get(path)
        fast = client.get(path)
        assert entered.count(path) == 1, path
        assert fast.data == slow.data
        assert fast.headers["Content-Type"] == slow.headers["Content-Type"]


@pytest.mark.parametrize("app_overrides", [{"WEBSUB_HUB_URL": "http://127.0.0.1:9/hub"}])
def test_a_released_alert_queues_a_websub_ping_for_its_feeds(app: Flask) -> None:
    issue(municipalities=["Crema", "Offanengo"])
    [ping] = db.session.scalars(sa.select(Delivery).where(Delivery.kind == DeliveryKind.WEBSUB))
    assert ping.payload == {
        "topic_urls": sorted(
            [
                f"{BASE}/feeds/{name}.{fmt}"
                for name in ("avvisi", "alerts")
                for fmt in ("rss", "atom", "json", "cap")
            ]
            + [
                f"{BASE}/feeds/comuni/{slug}/{name}.atom"
                for slug in ("crema", "offanengo")
                for name in ("avvisi", "alerts")
            ]
        )
    }


@pytest.mark.parametrize("fmt", ["rss", "atom", "json", "cap"])
def test_the_english_alert_feeds_speak_english(
    client: FlaskClient, alerts: dict[str, int], fmt: str
) -> None:
    """/feeds/alerts.*: the issuer's English headline and text when given, else the Italian
    ones; English fixed parts, dates and severity; the same entries and ids as the Italian."""
    english = issue(
        now=ISSUED + timedelta(hours=2),
        headline="Crema: ponte chiuso",
        text="Ponte sul Serio chiuso.",
        headline_en="Crema: bridge closed",
        text_en="The bridge over the Serio is closed.",
        municipalities=["Crema"],
    )
    path = f"/feeds/alerts.{fmt}"
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MIMETYPES["atom" if fmt == "cap" else fmt]
    order = ["english", "offanengo", "expired", "everywhere", "crema"]
    ids = {**alerts, "english": english}
    pages = [f"{BASE}/avvisi/{ids[k]}?lang=en" for k in order]
    if fmt == "json":
        feed = json.loads(response.data)
        assert_valid_json_feed(feed)
        assert feed["language"] == "en"
        assert feed["title"] == "Area Omogenea Cremasca – Urgent alerts"
        assert feed["feed_url"] == f"{BASE}{path}"
        assert [i["url"] for i in feed["items"]] == pages
        titles = [i["title"] for i in feed["items"]]
        summaries = [i["content_html"] for i in feed["items"]]
    else:
        parsed = feedparser.parse(response.data)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.feed.language == "en"
        assert parsed.feed.title == "Area Omogenea Cremasca – Urgent alerts"
        assert [link.href for link in parsed.feed.links if link.rel == "self"] == [f"{BASE}{path}"]
        assert entry_links(path, client) == pages
        titles = [e.title for e in parsed.entries]
        summaries = [e.summary for e in parsed.entries]
        if fmt in ("atom", "cap"):
            assert ATOM_SCHEMA.validate(etree.fromstring(response.data)), ATOM_SCHEMA.error_log
    assert titles[0] == "Crema: bridge closed"
    assert titles[1] == "Cancelled: Offanengo: acqua non potabile"  # no English: the Italian
    assert "The bridge over the Serio is closed." in summaries[0]
    assert "Ponte sul Serio" not in summaries[0]
    assert "severity extreme" in summaries[3]
    assert "all 48 comuni of the area" in summaries[3]
    assert "10 January 2030, 20:30" in summaries[3]  # Europe/Rome time
    assert "Cancelled on" in summaries[1]
    # The same entries as the Italian feed: one id per alert, whatever the language.
    italian = feedparser.parse(client.get("/feeds/avvisi.atom").data)
    if fmt == "atom":
        assert [e.id for e in parsed.entries] == [e.id for e in italian.entries]
        assert italian.entries[0].title == "Crema: ponte chiuso"


def test_a_comunes_english_alert_feed(client: FlaskClient, alerts: dict[str, int]) -> None:
    response = client.get("/feeds/comuni/crema/alerts.atom")
    assert response.status_code == 200
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.language == "en"
    assert parsed.feed.title == "Area Omogenea Cremasca – Urgent alerts: Crema"
    assert [link.href for link in parsed.feed.links if link.rel == "alternate"] == [
        f"{BASE}/comuni/crema?lang=en"
    ]
    assert entry_links("/feeds/comuni/crema/alerts.atom", client) == [
        f"{BASE}/avvisi/{alerts[k]}?lang=en" for k in ("expired", "everywhere", "crema")
    ]
    assert client.get("/feeds/comuni/atlantide/alerts.atom").status_code == 404
    reference.rename_municipality("Offanengo", "Offanengo Nuovo", actor=EDITOR)
    moved = client.get("/feeds/comuni/offanengo/alerts.atom")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "/feeds/comuni/offanengo-nuovo/alerts.atom"


def test_the_alert_pages_offer_the_feeds_in_their_language(
    client: FlaskClient, alerts: dict[str, int]
) -> None:
    from lxml import html

    for query, name in (("", "avvisi"), ("?lang=en", "alerts")):
        page = html.fromstring(client.get(f"/avvisi{query}").get_data(as_text=True))
        heads = [el.get("href") for el in page.xpath("//head/link[@rel='alternate']")]
        assert f"{BASE}/feeds/{name}.atom" in heads
        assert f"{BASE}/feeds/{name}.cap" in heads
        body = [el.get("href") for el in page.xpath("//main//a[contains(@href, '/feeds/')]")]
        assert f"/feeds/{name}.rss" in body
        assert f"/feeds/{name}.cap" in body
        town = html.fromstring(client.get(f"/comuni/crema{query}").get_data(as_text=True))
        town_heads = [el.get("href") for el in town.xpath("//head/link[@rel='alternate']")]
        assert f"{BASE}/feeds/comuni/crema/{name}.atom" in town_heads
