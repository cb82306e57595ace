"""A citizen's comune on every way in: the subscribe form, the preference centre, the API and
the CSV import; and the digest that follows opens with "Nel tuo comune"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.delivery.models import Delivery
from newsletter.digests.models import Digest
from newsletter.digests.service import build_digests
from newsletter.extensions import db
from newsletter.subscriptions import service
from newsletter.subscriptions.models import ConsentEvent, Subscriber
from newsletter.subscriptions.tokens import Purpose, token_for
from tests.fixtures.digests import WEEKLY_FIRE, add_article
from tests.fixtures.subscriptions import csrf_token, post_subscribe, subscriber_by_email

WEEK = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


def _digest_text(email: str) -> str:
    text = db.session.scalar(
        sa.select(Digest.text)
        .join(Delivery, Delivery.digest_id == Digest.id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Subscriber.email == email)
    )
    assert text is not None, f"no digest for {email}"
    return text


def _offanengo_week() -> None:
    add_article(
        "Offanengo, nuova mensa scolastica",
        ["welfare"],
        WEEK.replace(day=17, hour=9),
        municipalities=["Offanengo"],
    )
    add_article(
        "Offanengo: la sagra torna in piazza",
        ["governance"],
        WEEK.replace(day=18, hour=9),
        municipalities=["Offanengo"],
    )


# --- the form --------------------------------------------------------------------------------


def test_the_form_offers_the_48_comuni_and_a_comune_page_presets_one(client: FlaskClient) -> None:
    html = client.get("/subscribe").get_data(as_text=True)
    assert html.count('<option value="') == 49  # "none" and the 48
    assert '<option value="spino-d-adda">Spino d&#39;Adda</option>' in html
    preset = client.get("/subscribe?municipality=offanengo").get_data(as_text=True)
    assert '<option value="offanengo" selected>Offanengo</option>' in preset
    assert "Anche tutte le notizie su Offanengo, di qualsiasi tema" in preset


def test_subscribe_with_a_comune_and_local_news_only(client: FlaskClient) -> None:
    response = post_subscribe(
        client,
        "lucia@example.org",
        topics=(),
        extra={"municipality": "offanengo", "local_news": "1"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    lucia = subscriber_by_email("lucia@example.org")
    assert lucia is not None
    assert lucia.municipality is not None
    assert (lucia.municipality.name, lucia.local_news, lucia.topic_slugs) == ("Offanengo", True, [])
    event = db.session.scalar(sa.select(ConsentEvent).where(ConsentEvent.subscriber_id == lucia.id))
    assert event is not None
    assert event.details is not None
    assert event.details["municipality"] == "Offanengo"


def test_a_comune_without_local_news_still_needs_a_topic(client: FlaskClient) -> None:
    response = post_subscribe(client, "x@example.org", topics=(), extra={"municipality": "crema"})
    assert response.status_code == 400
    assert "Scegli almeno un tema, oppure il tuo comune" in response.get_data(as_text=True)
    assert subscriber_by_email("x@example.org") is None


def test_an_unknown_comune_is_a_field_error_naming_it(client: FlaskClient) -> None:
    response = post_subscribe(client, "y@example.org", extra={"municipality": "Cremona"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Cremona non è uno dei 48 comuni dell&#39;area." in html
    assert 'href="#municipality-field"' in html
    assert subscriber_by_email("y@example.org") is None


def test_a_name_in_any_spelling_is_accepted(client: FlaskClient) -> None:
    post_subscribe(client, "z@example.org", extra={"municipality": "SPINO D’ADDA"})
    found = subscriber_by_email("z@example.org")
    assert found is not None
    assert found.municipality is not None
    assert found.municipality.name == "Spino d'Adda"


def test_the_preference_centre_changes_the_comune(client: FlaskClient, app: Flask) -> None:
    post_subscribe(client, "p@example.org", topics=("welfare",))
    person = subscriber_by_email("p@example.org")
    assert person is not None
    service.confirm(person.id)
    token = token_for(Purpose.PREFERENCES, person)
    page = client.get(f"/preferences/{token}").get_data(as_text=True)
    assert 'name="municipality"' in page
    response = client.post(
        f"/preferences/{token}",
        data={
            "csrf_token": csrf_token(client, f"/preferences/{token}"),
            "municipality": "capralba",
            "local_news": "1",
            "frequency": "weekly",
            "locale": "it",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.expire_all()
    person = subscriber_by_email("p@example.org")
    assert person is not None
    assert person.municipality is not None
    assert (person.municipality.name, person.local_news, person.topic_slugs) == (
        "Capralba",
        True,
        [],
    )
    again = client.get(f"/preferences/{token}").get_data(as_text=True)
    assert '<option value="capralba" selected>Capralba</option>' in again


def test_web_subscriber_confirms_and_the_next_digest_opens_with_the_comune(
    client: FlaskClient, app: Flask
) -> None:
    _offanengo_week()
    post_subscribe(
        client, "web@example.org", topics=("welfare",), extra={"municipality": "offanengo"}
    )
    person = subscriber_by_email("web@example.org")
    assert person is not None
    token = token_for(Purpose.CONFIRM, person)
    confirm = client.post(
        f"/confirm/{token}", data={"csrf_token": csrf_token(client, f"/confirm/{token}")}
    )
    assert confirm.status_code == 200
    build_digests("weekly", WEEKLY_FIRE)
    text = _digest_text("web@example.org")
    assert text.index("Nel tuo comune: Offanengo") < text.index("Offanengo, nuova mensa")
    assert "la sagra" not in text


# --- the API ---------------------------------------------------------------------------------

CITIZEN = {
    "email": "cittadina@example.org",
    "role": "citizen",
    "municipality": "offanengo",
    "local_news": True,
    "topics": ["welfare"],
    "frequency": "weekly",
    "locale": "it",
    "consent_at": "2026-11-01T10:00:00+01:00",
    "consent_source": "modulo cartaceo in municipio",
}


def test_api_subscriber_with_a_comune_gets_it_in_the_digest(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _offanengo_week()
    response = client.post("/api/v1/subscribers", json=CITIZEN, headers=auth)
    assert response.status_code == 201, response.json
    assert response.json is not None
    assert (response.json["municipality"], response.json["local_news"]) == ("Offanengo", True)
    build_digests("weekly", WEEKLY_FIRE)
    text = _digest_text("cittadina@example.org")
    assert "Nel tuo comune: Offanengo" in text
    assert "la sagra torna in piazza" in text  # governance, there through local_news


def test_api_local_news_only_and_unknown_comune(client: FlaskClient, auth: dict[str, str]) -> None:
    only = {**CITIZEN, "email": "solo@example.org", "topics": []}
    assert client.post("/api/v1/subscribers", json=only, headers=auth).status_code == 201
    bad = client.post(
        "/api/v1/subscribers", json={**CITIZEN, "municipality": "Cremona"}, headers=auth
    )
    assert bad.status_code == 422
    assert bad.json is not None
    assert "Cremona" in bad.json["error"]
    assert "municipality" in bad.json["details"]
    flag = client.post("/api/v1/subscribers", json={**CITIZEN, "local_news": "yes"}, headers=auth)
    assert flag.status_code == 422
    assert flag.json is not None
    assert "local_news" in flag.json["details"]


# --- the CSV import --------------------------------------------------------------------------

CSV = (
    "email,role,municipality,topics,frequency,locale,name,local_news,consent_at,consent_source\n"
    "anna@example.org,citizen,Offanengo,energy,weekly,it,,true,2026-11-01T10:00:00+01:00,carta\n"
    "bruno@example.org,citizen,OFFANENGO,,weekly,en,,true,2026-11-01T10:00:00+01:00,carta\n"
    "carlo@example.org,citizen,Offanengo,energy,weekly,it,,false,2026-11-01T10:00:00+01:00,carta\n"
)


def test_csv_import_with_comune_and_local_news(runner: FlaskCliRunner, tmp_path: Path) -> None:
    _offanengo_week()
    path = tmp_path / "citizens.csv"
    path.write_text(CSV, encoding="utf-8")
    result = runner.invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code == 0, result.output
    build_digests("weekly", WEEKLY_FIRE)
    anna = _digest_text("anna@example.org")
    assert "Nel tuo comune: Offanengo" in anna
    assert "la sagra torna in piazza" in anna
    assert "nuova mensa" in anna
    assert "In your municipality: Offanengo" in _digest_text("bruno@example.org")
    carlo = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Delivery)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Subscriber.email == "carlo@example.org")
    )
    assert carlo == 0  # energy only, and nothing about Offanengo on energy this week
    exported = runner.invoke(args=["subscribers", "export"])
    assert "anna@example.org,citizen,Offanengo,energy,weekly,it,,true" in exported.output


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("x@example.org,citizen,Cremona,energy,weekly,it,,false", "unknown municipality: Cremona"),
        ("x@example.org,citizen,Crema,energy,weekly,it,,forse", "local_news must be true or false"),
        ("x@example.org,citizen,Crema,,weekly,it,,false", "or a municipality with local_news"),
    ],
)
def test_csv_bad_comune_rows_name_line_and_field(
    runner: FlaskCliRunner, tmp_path: Path, row: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "email,role,municipality,topics,frequency,locale,name,local_news\n" + row + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code != 0
    assert "line 2" in result.output
    assert message in result.output
