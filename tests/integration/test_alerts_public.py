"""The public face of urgent alerts: /avvisi, /avvisi/<id>, the banners on the home and comune
pages, and the CAP 1.2 documents, valid against the OASIS schema (tests/data/CAP-v1.2.xsd)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from newsletter.alerts import service
from newsletter.alerts.schemas import AlertIn
from newsletter.audit import Actor
from newsletter.db import utcnow
from newsletter.extensions import db

EDITOR = Actor("editor@example.org")
SECOND = Actor("second@example.org")
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
CAP_SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parents[1] / "data" / "CAP-v1.2.xsd")))
# Fixed instants: the pages show them in Europe/Rome time (CET in January, CEST in July).
ISSUED = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)  # 12:00 in Rome
START = datetime(2030, 1, 10, 13, 0, tzinfo=UTC)  # 14:00 in Rome
END = datetime(2030, 1, 10, 19, 30, tzinfo=UTC)  # 20:30 in Rome
ACTIVE = "//section[@aria-labelledby='active-heading']"
PAST = "//section[@aria-labelledby='past-heading']"


def alert_in(**changes: Any) -> AlertIn:
    body: dict[str, Any] = {
        "headline": "Crema: via Mazzini chiusa dalle 14:00",
        "text": "Lavori sulla rete idrica.\n\nLa strada resta chiusa fino a sera.",
        "severity": "moderate",
        "municipalities": ["Crema", "Offanengo"],
        "starts_at": START.isoformat(),
        "expires_at": END.isoformat(),
    }
    body.update(changes)
    return AlertIn.model_validate(body)


def issue(now: datetime | None = None, **changes: Any) -> int:
    """A released alert (a second person approves severe and extreme ones); its id."""
    message = service.issue(alert_in(**changes), actor=EDITOR, now=now)
    if message.released_at is None:
        service.approve(message.id, actor=SECOND, now=now)
    db.session.commit()
    return message.alert_id


def expired(**changes: Any) -> int:
    """An alert that ran in July 2026 and has expired since."""
    changes = {
        "starts_at": ISSUED.isoformat(),
        "expires_at": (ISSUED + timedelta(hours=6)).isoformat(),
        **changes,
    }
    return issue(now=ISSUED, **changes)


def tree(client: FlaskClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return lxml.html.fromstring(response.get_data(as_text=True))


def texts(nodes: list[Any]) -> list[str]:
    return [" ".join(node.text_content().split()) for node in nodes]


# --- pages ---------------------------------------------------------------------------------


def test_avvisi_lists_active_alerts_most_serious_first_and_past_ones_below(
    app: Flask, client: FlaskClient
) -> None:
    minor = issue(headline="Offanengo: mercato spostato", severity="minor")
    severe = issue(headline="Allerta meteo arancione nel Cremasco", severity="severe")
    updated = issue(headline="Crema: acqua non potabile", severity="moderate")
    service.update(
        updated,
        alert_in(headline="Crema: acqua non potabile in centro", municipalities=["Crema"]),
        actor=EDITOR,
        note="zona ridotta",
    )
    cancelled = issue(headline="Bagnolo Cremasco: sagra annullata")
    service.cancel(cancelled, actor=EDITOR, note="falso allarme")
    db.session.commit()
    gone = expired(headline="Vaiano Cremasco: blackout")

    page = tree(client, "/avvisi")
    active = page.xpath(f"{ACTIVE}//li[contains(@class, 'alert-card')]")
    headlines = texts([card.xpath(".//a")[0] for card in active])
    assert headlines == [
        "Allerta meteo arancione nel Cremasco",  # severe
        "Crema: acqua non potabile in centro",  # moderate, newer change
        "Offanengo: mercato spostato",  # minor
    ]
    cards = dict(zip(headlines, texts(active), strict=True))
    assert "Grave" in cards["Allerta meteo arancione nel Cremasco"]
    assert "Lieve" in cards["Offanengo: mercato spostato"]
    assert "Aggiornato" in cards["Crema: acqua non potabile in centro"]
    assert "Aggiornato" not in cards["Offanengo: mercato spostato"]
    # Where and when, in Europe/Rome time; these start later: marked so.
    assert "Crema, Offanengo" in cards["Offanengo: mercato spostato"]
    assert "10 gennaio 2030, 14:00" in cards["Offanengo: mercato spostato"]
    assert "10 gennaio 2030, 20:30" in cards["Offanengo: mercato spostato"]
    assert "Non ancora in vigore" in cards["Offanengo: mercato spostato"]
    # Severity is said in words next to an icon, not by colour alone.
    badge = active[0].xpath(".//*[contains(@class, 'alert-severity')]")[0]
    assert badge.xpath(".//svg/*[local-name()='use']")
    assert "Gravità" in badge.text_content()

    past = page.xpath(f"{PAST}//li[contains(@class, 'alert-card')]")
    past_cards = dict(zip(texts([c.xpath(".//a")[0] for c in past]), texts(past), strict=True))
    assert list(past_cards) == ["Bagnolo Cremasco: sagra annullata", "Vaiano Cremasco: blackout"]
    assert "Revocato" in past_cards["Bagnolo Cremasco: sagra annullata"]
    assert "Scaduto" in past_cards["Vaiano Cremasco: blackout"]
    assert "15 luglio 2026, 12:00" in past_cards["Vaiano Cremasco: blackout"]  # CEST
    links = {a.get("href") for a in page.xpath("//main//a")}
    for alert_id in (minor, severe, updated, cancelled, gone):
        assert f"/avvisi/{alert_id}" in links
    # The page model: breadcrumbs, "Ultimo aggiornamento", the navigation marks the section.
    crumbs = page.xpath("//ol[@data-element='breadcrumb']/li")
    assert texts(crumbs)[-1] == "Avvisi urgenti"
    assert "Ultimo aggiornamento" in texts(page.xpath("//*[@data-element='metadata']"))[0]
    nav = page.xpath("//nav[@data-element='main-navigation']//a[@aria-current='page']")
    assert texts(nav) == ["Avvisi"]
    alternates = {
        (link.get("type"), link.get("href")) for link in page.xpath("//link[@rel='alternate']")
    }
    base = "https://newsletter.example.org/feeds/avvisi"
    assert ("application/rss+xml", f"{base}.rss") in alternates
    assert ("application/atom+xml", f"{base}.atom") in alternates
    assert ("application/feed+json", f"{base}.json") in alternates
    assert ("application/atom+xml", f"{base}.cap") in alternates


def test_avvisi_in_english_and_when_there_is_nothing(app: Flask, client: FlaskClient) -> None:
    page = tree(client, "/avvisi")
    assert "Nessun avviso in corso in questo momento." in page.text_content()
    issue(headline="Crema: via Mazzini chiusa", headline_en="Crema: via Mazzini closed")
    issue(headline="Offanengo: mercato spostato", severity="extreme")
    page = tree(client, "/avvisi?lang=en")
    assert page.xpath("//h1")[0].text_content() == "Urgent alerts"
    cards = texts(page.xpath("//li[contains(@class, 'alert-card')]"))
    assert "Extreme" in cards[0]
    assert "Crema: via Mazzini closed" in cards[1]
    assert "10 January 2030" in cards[1]
    # No English headline: the Italian one, marked as Italian for screen readers.
    [italian] = page.xpath("//li[contains(@class, 'alert-card')]//a/span[@lang='it']")
    assert italian.text_content() == "Offanengo: mercato spostato"


def test_past_alerts_are_paged(app: Flask, client: FlaskClient) -> None:
    made = [expired(headline=f"Avviso passato numero {n}") for n in range(22)]
    first = tree(client, "/avvisi")
    assert len(first.xpath(f"{PAST}//li")) == 20
    assert first.xpath("//a[@rel='next']")[0].get("href") == "/avvisi?page=2"
    second = tree(client, "/avvisi?page=2")
    shown = second.xpath(f"{PAST}//li//a/@href")
    assert shown == [f"/avvisi/{made[1]}", f"/avvisi/{made[0]}"]  # the oldest last
    assert second.xpath("//a[@rel='prev']")


def test_alert_page_shows_content_history_and_machine_links(
    app: Flask, client: FlaskClient
) -> None:
    alert_id = issue(
        now=ISSUED, topic="mobility", url="https://www.comune.crema.cr.it/avvisi/mazzini"
    )
    service.update(
        alert_id,
        alert_in(
            headline="Crema: via Mazzini chiusa fino alle 22:00",
            text="I lavori durano più del previsto.",
            municipalities=["Crema"],
            severity="severe",
            topic="mobility",
            url="https://www.comune.crema.cr.it/avvisi/mazzini",
        ),
        actor=EDITOR,
        note="chiusura prolungata",
        may_override=True,
        override_reason="strada già chiusa",
        now=ISSUED + timedelta(hours=1),
    )
    db.session.commit()
    page = tree(client, f"/avvisi/{alert_id}")
    assert page.xpath("//h1")[0].text_content() == "Crema: via Mazzini chiusa fino alle 22:00"
    body = " ".join(page.xpath("//main")[0].text_content().split())
    assert "I lavori durano più del previsto." in body
    assert f"Avviso urgente AOC-{alert_id}" in body
    assert "Grave" in body
    assert "Mobilità" in body
    history = texts(page.xpath("//ol[contains(@class, 'alert-history')]/li"))
    assert len(history) == 2
    assert history[0].startswith("Avviso emesso · 15 luglio 2026, 12:00")
    assert "Crema: via Mazzini chiusa dalle 14:00" in history[0]  # as it was said then
    assert history[1].startswith("Aggiornamento · 15 luglio 2026, 13:00")
    assert "chiusura prolungata" in history[1]
    hrefs = set(page.xpath("//main//a/@href"))
    assert f"/avvisi/{alert_id}.cap" in hrefs
    assert "/feeds/avvisi.atom" in hrefs
    assert "/feeds/comuni/crema/avvisi.atom" in hrefs
    assert "https://www.comune.crema.cr.it/avvisi/mazzini" in hrefs
    cap_links = page.xpath("//link[@rel='alternate'][@type='application/cap+xml']/@href")
    assert cap_links == [f"https://newsletter.example.org/avvisi/{alert_id}.cap"]
    crumbs = texts(page.xpath("//ol[@data-element='breadcrumb']/li"))
    assert crumbs[-1] == f"AOC-{alert_id}"
    assert crumbs[1].startswith("Avvisi urgenti")

    service.cancel(alert_id, actor=EDITOR, note="lavori finiti", now=ISSUED + timedelta(hours=2))
    db.session.commit()
    page = tree(client, f"/avvisi/{alert_id}")
    body = " ".join(page.xpath("//main")[0].text_content().split())
    assert "Questo avviso è stato revocato" in body
    assert "Revocato il 15 luglio 2026, 14:00" in body
    history = texts(page.xpath("//ol[contains(@class, 'alert-history')]/li"))
    assert history[2].startswith("Revoca · 15 luglio 2026, 14:00")
    assert "lavori finiti" in history[2]


def test_pending_rejected_and_unknown_alerts_are_404(app: Flask, client: FlaskClient) -> None:
    waiting = service.issue(alert_in(severity="extreme"), actor=EDITOR)
    refused = service.issue(alert_in(severity="severe"), actor=EDITOR)
    service.reject(refused.id, actor=SECOND, reason="non confermato")
    db.session.commit()
    for alert_id in (waiting.alert_id, refused.alert_id, 999999):
        assert client.get(f"/avvisi/{alert_id}").status_code == 404
        assert client.get(f"/avvisi/{alert_id}.cap").status_code == 404
    listing = client.get("/avvisi").get_data(as_text=True)
    assert f"/avvisi/{waiting.alert_id}" not in listing
    assert f"/avvisi/{refused.alert_id}" not in listing


def test_expired_alerts_leave_the_active_list_by_themselves(
    app: Flask, client: FlaskClient
) -> None:
    now = utcnow()
    alert_id = issue(
        now=now, starts_at=now.isoformat(), expires_at=(now + timedelta(hours=1)).isoformat()
    )
    assert [a.id for a in service.active_alerts(now + timedelta(minutes=59))] == [alert_id]
    later = now + timedelta(hours=1, seconds=1)
    assert service.active_alerts(later) == []
    assert [a.id for a in service.past_alerts(1, now=later).items] == [alert_id]
    # The same at the pages' own clock: an alert that expired an hour ago is listed as past.
    gone = issue(
        now=now - timedelta(hours=3),
        starts_at=(now - timedelta(hours=3)).isoformat(),
        expires_at=(now - timedelta(hours=1)).isoformat(),
    )
    page = tree(client, "/avvisi")
    active = page.xpath(f"{ACTIVE}//a/@href")
    past = page.xpath(f"{PAST}//li//a/@href")
    assert f"/avvisi/{gone}" not in active
    assert f"/avvisi/{gone}" in past
    assert f"/avvisi/{alert_id}" in active
    assert f"/avvisi/{gone}" not in client.get("/").get_data(as_text=True)


def test_banner_on_home_and_on_the_comuni_concerned(app: Flask, client: FlaskClient) -> None:
    home = tree(client, "/")
    assert home.xpath("//*[contains(@class, 'alerts-banner')]") == []
    crema = issue(headline="Crema: via Mazzini chiusa", municipalities=["Crema"])
    everywhere = issue(
        headline="Allerta meteo nel Cremasco", municipalities=["*"], severity="severe"
    )
    expired(headline="Crema: vecchio avviso", municipalities=["Crema"])

    def banner(path: str) -> list[str]:
        found = tree(client, path).xpath("//section[contains(@class, 'alerts-banner')]")
        if not found:
            return []
        [section] = found
        assert "callout" in section.get("class")
        assert section.xpath(".//h2")  # announced by its heading
        return [a.get("href") for a in section.xpath(".//li/a")]

    assert banner("/") == [f"/avvisi/{everywhere}", f"/avvisi/{crema}"]  # most serious first
    assert banner("/comuni/crema") == [f"/avvisi/{everywhere}", f"/avvisi/{crema}"]
    assert banner("/comuni/offanengo") == [f"/avvisi/{everywhere}"]
    page = tree(client, "/comuni/crema")
    title = page.xpath("//section[contains(@class, 'alerts-banner')]//h2")[0].text_content()
    assert " ".join(title.split()) == "Avvisi in corso per Crema"
    assert "Grave" in page.xpath("//section[contains(@class, 'alerts-banner')]")[0].text_content()
    alternates = page.xpath("//link[@rel='alternate']/@href")
    assert "https://newsletter.example.org/feeds/comuni/crema/avvisi.atom" in alternates
    service.cancel(everywhere, actor=EDITOR)
    db.session.commit()
    assert banner("/comuni/offanengo") == []
    assert banner("/") == [f"/avvisi/{crema}"]


def test_alert_pages_set_no_cookie(app: Flask, client: FlaskClient) -> None:
    alert_id = issue()
    for path in ("/avvisi", f"/avvisi/{alert_id}", f"/avvisi/{alert_id}.cap"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, path


# --- CAP 1.2 -------------------------------------------------------------------------------


def cap(client: FlaskClient, alert_id: int) -> Any:
    response = client.get(f"/avvisi/{alert_id}.cap")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/cap+xml; charset=utf-8"
    document = etree.fromstring(response.data)
    assert CAP_SCHEMA.validate(document), CAP_SCHEMA.error_log
    return document


def one(node: Any, path: str) -> str:
    values = node.findall(path.replace("cap:", CAP))
    assert len(values) == 1, path
    return str(values[0].text)


def test_cap_documents_of_an_alert_its_update_and_its_cancellation(
    app: Flask, client: FlaskClient
) -> None:
    alert_id = issue(
        now=ISSUED,
        headline_en="Crema: via Mazzini closed from 14:00",
        topic="mobility",
        url="https://www.comune.crema.cr.it/avvisi?x=1&y=<2>",
    )
    first = cap(client, alert_id)
    sender = "newsletter.example.org"
    assert one(first, "cap:identifier") == f"{sender}:AOC-{alert_id}.1"
    assert one(first, "cap:sender") == sender
    assert one(first, "cap:sent") == "2026-07-15T12:00:00+02:00"
    assert one(first, "cap:status") == "Actual"
    assert one(first, "cap:msgType") == "Alert"
    assert one(first, "cap:scope") == "Public"
    assert first.find(f"{CAP}references") is None
    infos = first.findall(f"{CAP}info")
    assert [one(i, "cap:language") for i in infos] == ["it-IT", "en-US"]
    italian, english = infos
    assert one(italian, "cap:category") == "Transport"
    assert one(italian, "cap:event") == "Avviso urgente – Mobilità"
    assert one(english, "cap:event") == "Urgent alert – Mobility"
    assert one(italian, "cap:urgency") == "Immediate"
    assert one(italian, "cap:severity") == "Moderate"
    assert one(italian, "cap:certainty") == "Likely"  # starts in 2030
    assert one(italian, "cap:effective") == "2030-01-10T14:00:00+01:00"
    assert one(italian, "cap:onset") == "2030-01-10T14:00:00+01:00"
    assert one(italian, "cap:expires") == "2030-01-10T20:30:00+01:00"
    assert one(italian, "cap:senderName") == "Area Omogenea Cremasca – Consorzio.it"
    assert one(italian, "cap:headline") == "Crema: via Mazzini chiusa dalle 14:00"
    assert one(english, "cap:headline") == "Crema: via Mazzini closed from 14:00"
    assert one(italian, "cap:description").startswith("Lavori sulla rete idrica.")
    assert one(italian, "cap:description").endswith(
        "Maggiori informazioni: https://www.comune.crema.cr.it/avvisi?x=1&y=<2>"
    )
    # No English text: the Italian one, with the English fixed parts around it.
    assert one(english, "cap:description").startswith("Lavori sulla rete idrica.")
    assert "More information: https://" in one(english, "cap:description")
    assert one(italian, "cap:web") == f"https://newsletter.example.org/avvisi/{alert_id}"
    [area] = italian.findall(f"{CAP}area")
    assert one(area, "cap:areaDesc") == "Crema, Offanengo"
    geocodes = [
        (one(g, "cap:valueName"), one(g, "cap:value")) for g in area.findall(f"{CAP}geocode")
    ]
    assert geocodes == [("ISTAT", "019035"), ("ISTAT", "019062")]  # ISTAT's codes (0012)

    service.update(
        alert_id,
        alert_in(
            headline="Crema: via Mazzini chiusa fino alle 22:00",
            severity="severe",
            municipalities=["*"],
            starts_at=ISSUED.isoformat(),
        ),
        actor=EDITOR,
        note="chiusura prolungata",
        may_override=True,
        override_reason="strada già chiusa",
        now=ISSUED + timedelta(hours=1),
    )
    db.session.commit()
    second = cap(client, alert_id)
    assert one(second, "cap:identifier") == f"{sender}:AOC-{alert_id}.2"
    assert one(second, "cap:msgType") == "Update"
    assert one(second, "cap:note") == "chiusura prolungata"
    assert one(second, "cap:references") == (
        f"{sender},{sender}:AOC-{alert_id}.1,2026-07-15T12:00:00+02:00"
    )
    info = second.find(f"{CAP}info")
    assert one(info, "cap:severity") == "Severe"
    assert one(info, "cap:certainty") == "Observed"  # in force when it was sent
    assert one(info, "cap:area/cap:areaDesc") == "Area Omogenea Cremasca"
    codes = info.findall(f"{CAP}area/{CAP}geocode/{CAP}value")
    assert len(codes) == 48  # every comune of the area, by its code
    assert "019035" in [c.text for c in codes]

    service.cancel(alert_id, actor=EDITOR, note="lavori finiti", now=ISSUED + timedelta(hours=2))
    db.session.commit()
    third = cap(client, alert_id)
    assert one(third, "cap:identifier") == f"{sender}:AOC-{alert_id}.3"
    assert one(third, "cap:msgType") == "Cancel"
    assert one(third, "cap:sent") == "2026-07-15T14:00:00+02:00"
    assert one(third, "cap:references").split(" ") == [
        f"{sender},{sender}:AOC-{alert_id}.1,2026-07-15T12:00:00+02:00",
        f"{sender},{sender}:AOC-{alert_id}.2,2026-07-15T13:00:00+02:00",
    ]
    assert one(third, "cap:note") == "lavori finiti"


def test_cap_category_map_rejected_updates_and_hostile_text(
    app: Flask, client: FlaskClient
) -> None:
    for topic, category in (
        ("welfare", "Health"),
        ("energy", "Infra"),
        ("governance", "Other"),
        (None, "Other"),
    ):
        alert_id = issue(topic=topic, headline='Tag <b>&amp; ]]> "virgolette"')
        document = cap(client, alert_id)
        info = document.find(f"{CAP}info")
        assert one(info, "cap:category") == category
        assert one(info, "cap:headline") == 'Tag <b>&amp; ]]> "virgolette"'
        assert one(info, "cap:event") == "Avviso urgente" + (" – " if topic else "") + (
            {"welfare": "Welfare", "energy": "Energia", "governance": "Governance"}.get(
                topic or "", ""
            )
        )
    # A rejected update was never said: the next released message refers past it.
    waiting = service.update(alert_id, alert_in(severity="extreme"), actor=EDITOR)
    assert waiting.released_at is None
    service.reject(waiting.id, actor=SECOND, reason="no")
    service.cancel(alert_id, actor=EDITOR)
    db.session.commit()
    document = cap(client, alert_id)
    assert one(document, "cap:identifier").endswith(f"AOC-{alert_id}.3")
    refs = one(document, "cap:references").split(" ")
    assert [r.split(",")[1].rsplit(".", 1)[1] for r in refs] == ["1"]


def test_cap_document_is_cacheable(app: Flask, client: FlaskClient) -> None:
    alert_id = issue()
    first = client.get(f"/avvisi/{alert_id}.cap")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=300"
    again = client.get(f"/avvisi/{alert_id}.cap", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert client.get(f"/avvisi/{alert_id}.cap").data == first.data  # byte-stable
    service.cancel(alert_id, actor=EDITOR)
    db.session.commit()
    changed = client.get(f"/avvisi/{alert_id}.cap", headers={"If-None-Match": etag})
    assert changed.status_code == 200


@pytest.mark.parametrize("path", ["/avvisi/abc.cap", "/avvisi/99999999999999999999"])
def test_bad_alert_urls_are_404(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_each_line_the_issuer_typed_is_its_own_paragraph(app: Flask, client: FlaskClient) -> None:
    alert_id = issue(
        text="Strada chiusa dalle 14:00.\r\nDeviazione per via Cavour.\n\nInfo: 0373 1"
    )
    page = tree(client, f"/avvisi/{alert_id}")
    paragraphs = texts(page.xpath("//main//p"))
    assert "Strada chiusa dalle 14:00." in paragraphs
    assert "Deviazione per via Cavour." in paragraphs
    feed = client.get("/feeds/avvisi.atom").get_data(as_text=True)
    assert "&lt;p&gt;Deviazione per via Cavour.&lt;/p&gt;" in feed
