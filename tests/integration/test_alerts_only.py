"""Someone who wants only their comune's urgent alerts by e-mail: no topic, no comune's news.

They may subscribe on every door (the form, the preference centre, the CSV roster, the API),
go through double opt-in, receive the alerts and never a digest (not even an empty one), are
told on the pages that the frequency is not the alerts', cannot untick their only choice in
the preference centre, and the alerts-only unsubscribe ends their subscription altogether,
with the consent ledger saying why. On SQLite, and on PostgreSQL when asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.delivery.outbox import PRIORITY_ALERT
from newsletter.digests.service import build_digests
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.subscriptions import service
from newsletter.subscriptions.links import personal_url_for
from newsletter.subscriptions.mail import render_confirm
from newsletter.subscriptions.models import (
    ConsentEvent,
    Frequency,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscriptions.tokens import Purpose, token_for
from tests.fixtures.alert_mail import alert_reader, alert_rows, issue_alert
from tests.fixtures.digests import WEEKLY_FIRE, add_article, add_subscriber
from tests.fixtures.subscriptions import csrf_token, outbox, post_subscribe, subscriber_by_email

ALERTS_ONLY = {"municipality": "offanengo", "alerts": "1"}
FREQUENCY_HINT_IT = (
    "Per la newsletter. Gli avvisi urgenti arrivano subito, qualunque sia la frequenza."
)
FREQUENCY_HINT_EN = "For the newsletter. Urgent alerts arrive at once, whatever the frequency."
NEEDS_A_CHOICE = (
    "Scegli almeno un tema, oppure il tuo comune con tutte le sue notizie o i suoi avvisi urgenti."
)


def _person(email: str) -> Subscriber:
    found = subscriber_by_email(email)
    assert found is not None, email
    return found


def _ledger(subscriber_id: int) -> list[ConsentEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.subscriber_id == subscriber_id)
            .order_by(ConsentEvent.id)
        )
    )


def _alerts_only(email: str, frequency: Frequency = Frequency.WEEKLY, locale: str = "it") -> int:
    """Subscribed and confirmed through the service, as the form does: Offanengo's alerts only."""
    service.subscribe(
        service.SubscribeRequest(
            email, (), frequency, locale, municipality="Offanengo", alerts=True
        )
    )
    person = _person(email)
    service.confirm(person.id)
    return person.id


# --- the subscribe form ----------------------------------------------------------------------


def test_the_form_accepts_a_comune_with_its_alerts_alone(client: FlaskClient) -> None:
    response = post_subscribe(client, "alba@example.org", topics=(), extra=ALERTS_ONLY)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_data(as_text=True)
    assert "Controlla la tua casella di posta" in answer
    assert "Hai chiesto solo gli avvisi urgenti per Offanengo" in answer
    alba = _person("alba@example.org")
    assert alba.municipality is not None
    assert (alba.status, alba.topic_slugs, alba.local_news, alba.alerts) == (
        SubscriberStatus.PENDING,
        [],
        False,
        True,
    )
    assert alba.municipality.name == "Offanengo"
    [subscribed] = _ledger(alba.id)
    assert subscribed.action.value == "subscribe"
    assert subscribed.details is not None
    assert (subscribed.details["topics"], subscribed.details["alerts"]) == ([], True)
    # Double opt-in as usual: a confirmation mail saying what was asked for.
    [row] = outbox(DeliveryKind.CONFIRM, alba.id)
    mail = render_confirm(row)
    assert mail is not None
    assert "gli avvisi urgenti dell'Area Omogenea Cremasca per Offanengo" in mail.text
    assert "su questi temi" not in mail.text
    assert "senza newsletter" in mail.text


def test_a_topic_reader_is_not_told_about_alerts_only(client: FlaskClient) -> None:
    """The answer page repeats what was typed: with a topic, nothing about alerts alone."""
    response = post_subscribe(client, "bea@example.org", topics=("welfare",), extra=ALERTS_ONLY)
    assert response.status_code == 200
    assert "Hai chiesto solo gli avvisi urgenti" not in response.get_data(as_text=True)
    [row] = outbox(DeliveryKind.CONFIRM, _person("bea@example.org").id)
    mail = render_confirm(row)
    assert mail is not None
    assert "su questi temi: Welfare." in mail.text
    assert "Anche gli avvisi urgenti per Offanengo, appena vengono emessi." in mail.text


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({}, "topics", NEEDS_A_CHOICE),  # nothing at all
        ({"municipality": "offanengo"}, "topics", NEEDS_A_CHOICE),  # a comune, no box
        ({"alerts": "1"}, "alerts", "Gli avvisi urgenti riguardano un comune"),  # no comune
    ],
)
def test_the_form_still_refuses_nothing_to_send(
    client: FlaskClient, extra: dict[str, str], field: str, message: str
) -> None:
    response = post_subscribe(client, "carlo@example.org", topics=(), extra=extra)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert html.count(message) == 2  # in the summary and on the field
    assert f'<a href="#{field}-field">' in html
    other = "alerts" if field == "topics" else "topics"
    assert f'<a href="#{other}-field">' not in html  # one problem, said once
    assert 'value="carlo@example.org"' in html
    assert subscriber_by_email("carlo@example.org") is None


def test_the_frequency_hint_says_alerts_ignore_it(client: FlaskClient) -> None:
    html = client.get("/subscribe").get_data(as_text=True)
    assert FREQUENCY_HINT_IT in html
    assert 'id="frequency-field" class="field" aria-describedby="frequency-hint"' in html
    assert FREQUENCY_HINT_EN in client.get("/subscribe?lang=en").get_data(as_text=True)
    assert FREQUENCY_HINT_IT in client.get("/?lang=it").get_data(as_text=True)  # home's form


def test_the_service_takes_alerts_alone_and_refuses_nothing(app: Flask) -> None:
    nothing = service.SubscribeRequest(
        "d@example.org", (), Frequency.WEEKLY, "it", municipality="Offanengo"
    )
    with pytest.raises(ValidationError) as caught:
        service.subscribe(nothing)
    assert set(caught.value.details) == {"topics"}
    no_comune = service.SubscribeRequest("d@example.org", (), Frequency.WEEKLY, "it", alerts=True)
    with pytest.raises(ValidationError) as caught:
        service.subscribe(no_comune)
    assert set(caught.value.details) == {"alerts"}
    assert subscriber_by_email("d@example.org") is None
    _alerts_only("d@example.org")
    assert _person("d@example.org").status is SubscriberStatus.ACTIVE


# --- confirming ------------------------------------------------------------------------------


def test_confirming_makes_them_active_with_alerts_and_no_topics(
    client: FlaskClient, app: Flask
) -> None:
    post_subscribe(client, "elsa@example.org", topics=(), extra=ALERTS_ONLY, locale="en")
    elsa = _person("elsa@example.org")
    path = f"/confirm/{token_for(Purpose.CONFIRM, elsa)}"
    confirmed = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert confirmed.status_code == 200
    page = confirmed.get_data(as_text=True)
    assert (
        "Thank you: you will receive the urgent alerts for Offanengo by e-mail as soon as they "
        "are issued." in page
    )
    assert "You chose no topic, so no newsletter comes with them." in page
    assert "on the topics you chose" not in page
    elsa = _person("elsa@example.org")
    assert (elsa.status, elsa.topic_slugs, elsa.alerts) == (SubscriberStatus.ACTIVE, [], True)
    confirm = _ledger(elsa.id)[-1]
    assert confirm.action.value == "confirm"
    assert confirm.details is not None
    assert (confirm.details["topics"], confirm.details["alerts"]) == ([], True)


# --- no digest, ever -------------------------------------------------------------------------

DAILY_FIRE = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)  # 07:00 in Rome: 20-21 November


def _digest_rows(subscriber_id: int) -> list[Delivery]:
    return outbox(DeliveryKind.DIGEST, subscriber_id)


@pytest.mark.parametrize("app_overrides", [{}, {"SEND_EMPTY_DIGESTS": True}])
def test_builds_give_them_no_digest(app: Flask, app_overrides: dict[str, Any]) -> None:
    """Weekly, daily and immediate builds with news about their own comune in each period:
    a reader with a topic gets each digest, the alerts-only reader none (not even an empty
    one when empty digests are sent)."""
    add_article(
        "Offanengo, nuovo asilo nido comunale",
        ["welfare"],
        datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        municipalities=["Offanengo"],
    )
    add_article(
        "Offanengo, chiusa via Roma",
        ["mobility"],
        WEEKLY_FIRE - timedelta(minutes=5),
        municipalities=["Offanengo"],
    )
    only: dict[str, int] = {}
    readers: dict[str, int] = {}
    for frequency in ("weekly", "daily", "immediate"):
        only[frequency] = _alerts_only(f"only-{frequency}@example.org", Frequency(frequency))
        readers[frequency] = add_subscriber(
            f"reader-{frequency}@example.org",
            ["welfare", "mobility"],
            frequency=frequency,
            municipality="Offanengo",
        ).id

    for frequency, at in (
        ("weekly", WEEKLY_FIRE),
        ("daily", DAILY_FIRE),
        ("immediate", WEEKLY_FIRE),
    ):
        result = build_digests(frequency, at)
        assert result.deliveries >= 1, frequency
        assert len(_digest_rows(readers[frequency])) == 1, frequency
    assert {f: _digest_rows(sid) for f, sid in only.items()} == {
        "weekly": [],
        "daily": [],
        "immediate": [],
    }
    # Nor a digest of a later period, once the news has moved on.
    build_digests("weekly", WEEKLY_FIRE + timedelta(days=7))
    assert _digest_rows(only["weekly"]) == []


# --- alerts reach them -----------------------------------------------------------------------


def test_an_alert_reaches_them(app: Flask) -> None:
    alba = _alerts_only("alba@example.org")
    bob = _alerts_only("bob@example.org", locale="en")
    elsewhere = alert_reader("carla@example.org", "Ricengo", topics=())  # another comune
    message = issue_alert(municipalities=["Offanengo"], headline="Offanengo: acqua non potabile")
    rows = alert_rows(message.id)
    assert sorted(r.subscriber_id or 0 for r in rows) == sorted([alba, bob])
    assert {(r.status, r.priority) for r in rows} == {(DeliveryStatus.QUEUED, PRIORITY_ALERT)}
    assert elsewhere.id not in {r.subscriber_id for r in rows}


# --- the preference centre -------------------------------------------------------------------


def _save(client: FlaskClient, token: str, **fields: str) -> Any:
    data = {
        "csrf_token": csrf_token(client, f"/preferences/{token}"),
        "frequency": "weekly",
        "locale": "it",
        **fields,
    }
    return client.post(f"/preferences/{token}", data=data)


def test_the_preference_centre_says_what_they_receive(client: FlaskClient, app: Flask) -> None:
    alba = _person_by_id(_alerts_only("alba@example.org"))
    token = token_for(Purpose.PREFERENCES, alba)
    page = client.get(f"/preferences/{token}").get_data(as_text=True)
    assert "Al momento ricevi solo gli avvisi urgenti per Offanengo, senza newsletter." in page
    assert FREQUENCY_HINT_IT in page
    assert 'aria-describedby="p-frequency-hint"' in page
    assert 'id="p-alerts" checked' in page
    assert "Non ricevere più gli avvisi urgenti</h2>" in page
    # Adding a topic: the newsletter too, the note goes.
    saved = _save(client, token, topics="welfare", municipality="offanengo", alerts="1")
    assert saved.status_code == 303, saved.get_data(as_text=True)
    page = client.get(f"/preferences/{token}").get_data(as_text=True)
    assert "Al momento ricevi solo gli avvisi urgenti" not in page
    assert _person("alba@example.org").topic_slugs == ["welfare"]


def _person_by_id(subscriber_id: int) -> Subscriber:
    db.session.expire_all()
    found = db.session.get(Subscriber, subscriber_id)
    assert found is not None
    return found


def test_unticking_their_only_choice_is_a_form_error_and_nothing_is_lost(
    client: FlaskClient, app: Flask
) -> None:
    alba = _person_by_id(_alerts_only("alba@example.org"))
    before = len(_ledger(alba.id))
    token = token_for(Purpose.PREFERENCES, alba)
    response = _save(client, token, municipality="offanengo", frequency="daily")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    message = (
        "Scegli almeno un tema, oppure il tuo comune con tutte le sue notizie o i suoi avvisi "
        "urgenti. Per non ricevere più nulla da noi, annulla l&#39;iscrizione qui sotto."
    )
    assert html.count(message) == 2
    assert '<a href="#topics-field">' in html
    assert '<option value="offanengo" selected>Offanengo</option>' in html  # as posted
    assert 'value="daily" id="p-frequency-daily" checked' in html
    alba = _person_by_id(alba.id)
    assert (alba.status, alba.alerts, alba.frequency) == (
        SubscriberStatus.ACTIVE,
        True,
        Frequency.WEEKLY,
    )
    assert len(_ledger(alba.id)) == before
    # The service holds the same rule for any other caller.
    with pytest.raises(ValidationError):
        service.update_preferences(
            alba.id, service.Preferences((), Frequency.WEEKLY, "it", municipality="Offanengo")
        )
    with pytest.raises(ValidationError) as caught:
        service.set_alerts(alba.id, False)
    assert set(caught.value.details) == {"alerts"}
    assert _person_by_id(alba.id).alerts is True


def test_the_preference_centre_can_make_someone_alerts_only(
    client: FlaskClient, make_subscriber: Any
) -> None:
    anna = make_subscriber("anna@example.org", topics=("welfare",))
    token = token_for(Purpose.PREFERENCES, anna)
    saved = _save(client, token, municipality="crema", alerts="1")
    assert saved.status_code == 303, saved.get_data(as_text=True)
    anna = _person("anna@example.org")
    assert (anna.topic_slugs, anna.alerts, anna.status) == ([], True, SubscriberStatus.ACTIVE)
    prefs = _ledger(anna.id)[-1]
    assert prefs.action.value == "preferences"
    assert prefs.details is not None
    assert (prefs.details["topics"], prefs.details["alerts"]) == ([], True)


# --- the alerts-only unsubscribe -------------------------------------------------------------


def test_one_click_alerts_unsubscribe_ends_an_alerts_only_subscription(
    client: FlaskClient, app: Flask
) -> None:
    alba = _person_by_id(_alerts_only("alba@example.org"))
    message = issue_alert(municipalities=["Offanengo"])
    url = personal_url_for(Purpose.UNSUBSCRIBE_ALERTS, alba, external=False)
    page = client.get(url).get_data(as_text=True)
    assert "Gli avvisi urgenti sono tutto ciò che ricevi da noi" in page
    assert "la newsletter continua ad arrivare" not in page
    assert _person_by_id(alba.id).status is SubscriberStatus.ACTIVE  # GET changes nothing

    answer = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert (answer.mimetype, answer.get_data(as_text=True)) == ("text/plain", "unsubscribed\n")
    alba = _person_by_id(alba.id)
    assert (alba.status, alba.alerts) == (SubscriberStatus.UNSUBSCRIBED, False)
    assert alba.unsubscribed_at is not None
    [row] = alert_rows(message.id)
    assert row.status is DeliveryStatus.CANCELLED
    last = _ledger(alba.id)[-1]
    assert (last.action.value, last.channel) == ("unsubscribe", "one-click")
    assert last.details is not None
    assert last.details["via"] == "alerts"
    assert last.details["reason"] == "alerts were all they had"
    assert (last.details["municipality"], last.details["alerts"]) == ("Offanengo", False)
    count = len(_ledger(alba.id))

    # Repeating is harmless; a later alert does not reach them; the page says they left.
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(_ledger(alba.id)) == count
    assert alert_rows(issue_alert(municipalities=["Offanengo"]).id) == []
    done = client.get(url).get_data(as_text=True)
    assert "La tua iscrizione è annullata" in done
    assert "Questo indirizzo non riceve nulla da noi." in done
    # Subscribing again works as for anyone who left.
    post_subscribe(client, "alba@example.org", topics=(), extra=ALERTS_ONLY)
    assert _person_by_id(alba.id).status is SubscriberStatus.PENDING


def test_the_alerts_page_button_says_the_subscription_ended(
    client: FlaskClient, app: Flask
) -> None:
    bob = _person_by_id(_alerts_only("bob@example.org", locale="en"))
    url = personal_url_for(Purpose.UNSUBSCRIBE_ALERTS, bob, external=False)
    done = client.post(url)  # the page's own button
    assert done.status_code == 200
    html = done.get_data(as_text=True)
    assert "You are unsubscribed" in html
    assert (
        "Urgent alerts were all you received from us: you will receive nothing more at this "
        "address." in html
    )
    assert "Your newsletter subscription has not changed" not in html
    last = _ledger(bob.id)[-1]
    assert (last.action.value, last.channel) == ("unsubscribe", "web")


def test_alerts_unsubscribe_of_others_still_keeps_their_newsletter(
    client: FlaskClient, app: Flask
) -> None:
    """A reader with topics, one with the comune's news, and a mayor without topics (the
    institutional digest comes whatever the topics): only the alerts stop."""
    people = [
        alert_reader("topics@example.org", "Offanengo", topics=("welfare",)),
        alert_reader("local@example.org", "Offanengo", topics=()),
        alert_reader("sindaca@example.org", "Offanengo", role="mayor", topics=()),
    ]
    local = _person("local@example.org")
    local.local_news = True
    db.session.commit()
    for person in people:
        url = personal_url_for(Purpose.UNSUBSCRIBE_ALERTS, person, external=False)
        assert "la newsletter continua ad arrivare" in client.get(url).get_data(as_text=True)
        answer = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert answer.get_data(as_text=True) == "unsubscribed from alerts\n"
        after = _person_by_id(person.id)
        assert (after.status, after.alerts) == (SubscriberStatus.ACTIVE, False), person.email
        assert _ledger(person.id)[-1].action.value == "preferences"


# --- the roster: CSV and API -----------------------------------------------------------------

HEADER = (
    "email,role,municipality,topics,frequency,locale,name,local_news,alerts,consent_at,"
    "consent_source\n"
)
CONSENT = "2026-11-01T10:00:00+01:00,modulo cartaceo"


def _import(runner: FlaskCliRunner, tmp_path: Path, text: str) -> Any:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return runner.invoke(args=["subscribers", "import", str(path)])


def test_csv_takes_alerts_only_citizens(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = _import(
        runner,
        tmp_path,
        HEADER + f"gino@example.org,citizen,Offanengo,,weekly,it,,,true,{CONSENT}\n"
        "ugo@example.org,citizen,Offanengo,,daily,it,,,true,,\n",
    )
    assert result.exit_code == 0, result.output
    gino, ugo = _person("gino@example.org"), _person("ugo@example.org")
    assert (gino.status, gino.topic_slugs, gino.alerts) == (SubscriberStatus.ACTIVE, [], True)
    assert (ugo.status, ugo.alerts) == (SubscriberStatus.PENDING, True)  # asked to confirm
    assert len(outbox(DeliveryKind.CONFIRM, ugo.id)) == 1
    exported = runner.invoke(args=["subscribers", "export"])
    assert "gino@example.org,citizen,Offanengo,,weekly,it,,false,true," in exported.output


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            f"x@example.org,citizen,Offanengo,,weekly,it,,,false,{CONSENT}",
            "give at least one topic",
        ),
        (f"x@example.org,citizen,Offanengo,,weekly,it,,,,{CONSENT}", "give at least one topic"),
        (f"x@example.org,citizen,,,weekly,it,,,true,{CONSENT}", "alerts true needs a municip"),
    ],
)
def test_csv_still_refuses_rows_with_nothing_to_send(
    runner: FlaskCliRunner, tmp_path: Path, row: str, message: str
) -> None:
    result = _import(runner, tmp_path, HEADER + row + "\n")
    assert result.exit_code != 0
    assert f"line 2: {message}" in result.output
    assert subscriber_by_email("x@example.org") is None


CITIZEN = {
    "email": "nina@example.org",
    "role": "citizen",
    "municipality": "Offanengo",
    "topics": [],
    "consent_at": "2026-11-01T10:00:00+01:00",
    "consent_source": "modulo cartaceo",
}


def test_api_takes_alerts_only_citizens(client: FlaskClient, auth: dict[str, str]) -> None:
    nothing = client.post("/api/v1/subscribers", json=CITIZEN, headers=auth)
    assert nothing.status_code == 422
    assert nothing.json is not None
    assert set(nothing.json["details"]) == {"topics"}
    no_comune = {k: v for k, v in CITIZEN.items() if k != "municipality"}
    bad = client.post("/api/v1/subscribers", json={**no_comune, "alerts": True}, headers=auth)
    assert bad.status_code == 422
    assert bad.json is not None
    assert bad.json["error"] == "alerts true needs a municipality"
    created = client.post("/api/v1/subscribers", json={**CITIZEN, "alerts": True}, headers=auth)
    assert created.status_code == 201, created.json
    assert created.json is not None
    assert (created.json["topics"], created.json["alerts"], created.json["status"]) == (
        [],
        True,
        "active",
    )


def test_the_openapi_document_states_the_rule(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document is not None
    schema = document["components"]["schemas"]["SubscriberIn"]
    empty_topics = [b for b in schema["anyOf"] if "required" in b]
    assert [b["required"] for b in empty_topics] == [
        ["topics", "municipality", "local_news"],
        ["topics", "municipality", "alerts"],
    ]
    assert empty_topics[1]["properties"]["alerts"] == {"const": True}
    assert "alerts true" in schema["properties"]["topics"]["description"]
