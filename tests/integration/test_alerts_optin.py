"""Opting in to a comune's urgent alerts by e-mail, on every way in: the subscribe form, the
preference centre, the CSV roster, the API; recorded in the consent ledger, in the export and on
the admin pages. Mayors and officials get them unless they say no; citizens only when they ask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.delivery import outbox as delivery_outbox
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.extensions import db
from newsletter.subscriptions import service
from newsletter.subscriptions.models import ConsentAction, ConsentEvent, Subscriber
from newsletter.subscriptions.tokens import Purpose, token_for
from tests.fixtures.subscriptions import csrf_token, post_subscribe, subscriber_by_email


def _ledger(subscriber_id: int) -> list[tuple[str, dict[str, Any] | None]]:
    db.session.expire_all()
    events = db.session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber_id)
        .order_by(ConsentEvent.id)
    )
    return [(e.action.value, e.details) for e in events]


def _person(email: str) -> Subscriber:
    found = subscriber_by_email(email)
    assert found is not None, email
    return found


# --- the subscribe form ----------------------------------------------------------------------


def test_the_form_offers_the_box_unticked(client: FlaskClient) -> None:
    html = client.get("/subscribe").get_data(as_text=True)
    assert '<input type="checkbox" name="alerts" value="1" id="alerts" aria-describedby=' in html
    assert "Avvisi urgenti per il mio comune" in html
    english = client.get("/subscribe?lang=en").get_data(as_text=True)
    assert "Urgent alerts for my comune" in english
    assert 'id="alerts" checked' not in html


def test_alerts_without_a_comune_is_a_form_error_that_keeps_what_was_typed(
    client: FlaskClient,
) -> None:
    response = post_subscribe(
        client, "Chiara@Example.org", topics=("energy",), extra={"alerts": "1"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    message = "Gli avvisi urgenti riguardano un comune: scegli il tuo qui sopra"
    assert html.count(message) == 2  # in the summary and on the field
    assert '<a href="#alerts-field">' in html
    assert 'id="alerts-field" class="alerts-choice has-error"' in html
    assert 'aria-describedby="alerts-hint alerts-error" aria-invalid="true"' in html
    # Nothing typed is lost: the address, the topic, the ticked box.
    assert 'value="Chiara@Example.org"' in html
    assert 'value="energy" id="topic-energy" checked' in html
    assert 'id="alerts" checked' in html
    assert subscriber_by_email("chiara@example.org") is None


def test_subscribe_then_confirm_stores_alerts_with_the_ledger(
    client: FlaskClient, app: Flask
) -> None:
    response = post_subscribe(
        client,
        "dario@example.org",
        topics=("mobility",),
        extra={"municipality": "offanengo", "alerts": "1"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    dario = _person("dario@example.org")
    assert dario.alerts is True
    token = token_for(Purpose.CONFIRM, dario)
    confirmed = client.post(
        f"/confirm/{token}", data={"csrf_token": csrf_token(client, f"/confirm/{token}")}
    )
    assert confirmed.status_code == 200
    dario = _person("dario@example.org")
    assert (dario.status.value, dario.alerts) == ("active", True)
    ledger = _ledger(dario.id)
    assert [action for action, _ in ledger] == ["subscribe", "confirm"]
    for _action, details in ledger:
        assert details is not None
        assert (details["municipality"], details["alerts"]) == ("Offanengo", True)


def test_without_the_box_the_ledger_says_no(client: FlaskClient) -> None:
    post_subscribe(client, "elena@example.org", extra={"municipality": "crema"})
    elena = _person("elena@example.org")
    assert elena.alerts is False
    [(action, details)] = _ledger(elena.id)
    assert action == "subscribe"
    assert details is not None
    assert details["alerts"] is False


def test_the_service_refuses_alerts_without_a_comune(app: Flask) -> None:
    """The form says it first; the operation holds the rule for every other caller."""
    from newsletter.exceptions import ValidationError
    from newsletter.vocabulary import Frequency

    wanted = service.SubscribeRequest(
        "f@example.org", ("welfare",), Frequency.WEEKLY, "it", alerts=True
    )
    with pytest.raises(ValidationError) as caught:
        service.subscribe(wanted)
    assert set(caught.value.details) == {"alerts"}
    assert subscriber_by_email("f@example.org") is None


# --- the preference centre -------------------------------------------------------------------


def _save(client: FlaskClient, token: str, **fields: str) -> Any:
    data = {
        "csrf_token": csrf_token(client, f"/preferences/{token}"),
        "topics": "welfare",
        "frequency": "weekly",
        "locale": "it",
        **fields,
    }
    return client.post(f"/preferences/{token}", data=data)


def test_the_preference_centre_turns_alerts_on_and_off_with_a_ledger_entry_each(
    client: FlaskClient, app: Flask
) -> None:
    post_subscribe(client, "gina@example.org", extra={"municipality": "capralba"})
    gina = _person("gina@example.org")
    service.confirm(gina.id)
    token = token_for(Purpose.PREFERENCES, gina)
    page = client.get(f"/preferences/{token}").get_data(as_text=True)
    assert 'name="alerts" value="1" id="p-alerts" aria-describedby="p-alerts-hint">' in page

    on = _save(client, token, municipality="capralba", alerts="1")
    assert on.status_code == 303, on.get_data(as_text=True)
    assert _person("gina@example.org").alerts is True
    page = client.get(f"/preferences/{token}").get_data(as_text=True)
    assert 'id="p-alerts" checked' in page

    # An alert mail already queued for her must not leave once she says no.
    delivery_outbox.enqueue_once_each(
        DeliveryKind.ALERT, [gina.id], dedupe_prefix="alert:1:", payload={"rendition": 1}
    )
    db.session.commit()
    off = _save(client, token, municipality="capralba")
    assert off.status_code == 303
    assert _person("gina@example.org").alerts is False
    queued = db.session.scalar(sa.select(Delivery).where(Delivery.kind == DeliveryKind.ALERT))
    assert queued is not None
    assert queued.status is DeliveryStatus.CANCELLED

    prefs = [d for a, d in _ledger(gina.id) if a == ConsentAction.PREFERENCES.value]
    assert [d["alerts"] for d in prefs if d is not None] == [True, False]


def test_the_preference_centre_will_not_keep_alerts_without_a_comune(
    client: FlaskClient, app: Flask
) -> None:
    post_subscribe(client, "ivo@example.org", extra={"municipality": "pandino", "alerts": "1"})
    ivo = _person("ivo@example.org")
    service.confirm(ivo.id)
    token = token_for(Purpose.PREFERENCES, ivo)
    response = _save(client, token, municipality="", alerts="1")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert '<a href="#alerts-field">' in html
    assert 'id="p-alerts" checked' in html
    ivo = _person("ivo@example.org")
    assert ivo.alerts is True
    assert ivo.municipality is not None


def test_the_export_holds_the_choice_and_its_history(client: FlaskClient, app: Flask) -> None:
    post_subscribe(client, "lea@example.org", extra={"municipality": "offanengo", "alerts": "1"})
    lea = _person("lea@example.org")
    service.confirm(lea.id)
    exported = client.get(f"/export/{token_for(Purpose.EXPORT, lea)}")
    data = json.loads(exported.get_data(as_text=True))
    assert data["alerts"] is True
    assert [e["details"]["alerts"] for e in data["consent_events"]] == [True, True]


# --- the roster: CSV -------------------------------------------------------------------------

HEADER = "email,role,municipality,topics,frequency,locale,name,local_news,alerts\n"


def _import(runner: FlaskCliRunner, tmp_path: Path, text: str) -> Any:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return runner.invoke(args=["subscribers", "import", str(path)])


def _alerts() -> dict[str, bool]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Subscriber.email, Subscriber.alerts))
    return {email: alerts for email, alerts in rows}


def test_csv_without_the_column_mayors_and_officials_get_alerts_citizens_not(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    result = _import(
        runner,
        tmp_path,
        "email,role,municipality,topics,frequency,locale\n"
        "sindaco@comune.crema.cr.it,mayor,Crema,governance,weekly,it\n"
        "ufficio@comune.pandino.cr.it,official,Pandino,governance,weekly,it\n"
        "consorzio@example.org,official,,governance,weekly,it\n"
        "anna@example.org,citizen,Crema,welfare,weekly,it\n",
    )
    assert result.exit_code == 0, result.output
    assert _alerts() == {
        "sindaco@comune.crema.cr.it": True,
        "ufficio@comune.pandino.cr.it": True,
        "consorzio@example.org": False,  # no comune, no comune's alerts
        "anna@example.org": False,
    }
    mayor = _person("sindaco@comune.crema.cr.it")
    [(action, details)] = _ledger(mayor.id)
    assert action == "import"
    assert details is not None
    assert details["alerts"] is True


def test_csv_with_the_column_says_yes_or_no_and_empty_is_the_default(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    result = _import(
        runner,
        tmp_path,
        HEADER + "sindaco@comune.crema.cr.it,mayor,Crema,governance,weekly,it,,,false\n"
        "ufficio@comune.pandino.cr.it,official,Pandino,governance,weekly,it,,,\n"
        "anna@example.org,citizen,Crema,welfare,weekly,it,,,TRUE\n"
        "bruno@example.org,citizen,Crema,welfare,weekly,it,,,\n",
    )
    assert result.exit_code == 0, result.output
    assert _alerts() == {
        "sindaco@comune.crema.cr.it": False,
        "ufficio@comune.pandino.cr.it": True,
        "anna@example.org": True,
        "bruno@example.org": False,
    }


def test_reimporting_without_the_column_keeps_a_mayors_no(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    row = "sindaco@comune.crema.cr.it,mayor,Crema,governance,weekly,it,,,"
    assert _import(runner, tmp_path, HEADER + row + "false\n").exit_code == 0
    assert _import(runner, tmp_path, HEADER + row + "\n").exit_code == 0
    assert _alerts() == {"sindaco@comune.crema.cr.it": False}
    assert _import(runner, tmp_path, HEADER + row + "true\n").exit_code == 0
    assert _alerts() == {"sindaco@comune.crema.cr.it": True}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("x@example.org,citizen,,welfare,weekly,it,,,true", "alerts true needs a municipality"),
        ("x@example.org,citizen,Crema,welfare,weekly,it,,,forse", "alerts must be true or false"),
    ],
)
def test_csv_bad_alerts_name_the_line(
    runner: FlaskCliRunner, tmp_path: Path, row: str, message: str
) -> None:
    good = "ok@example.org,citizen,Crema,welfare,weekly,it,,,false\n"
    result = _import(runner, tmp_path, HEADER + good + row + "\n")
    assert result.exit_code != 0
    assert f"line 3: {message}" in result.output
    assert _alerts() == {}


def test_the_roster_export_has_the_column_and_imports_back(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _import(
        runner,
        tmp_path,
        HEADER + "sindaco@comune.crema.cr.it,mayor,Crema,governance,weekly,it,,,\n"
        "anna@example.org,citizen,Crema,welfare,weekly,it,,,false\n",
    )
    exported = runner.invoke(args=["subscribers", "export"])
    assert exported.exit_code == 0, exported.output
    lines = exported.output.splitlines()
    assert lines[0].startswith(HEADER.strip() + ",status")
    assert lines[1].startswith("anna@example.org,citizen,Crema,welfare,weekly,it,,false,false,")
    assert lines[2].startswith(
        "sindaco@comune.crema.cr.it,mayor,Crema,governance,weekly,it,,false,true,"
    )
    as_json = runner.invoke(args=["subscribers", "export", "--format", "json"])
    assert [row["alerts"] for row in json.loads(as_json.output)] == [False, True]
    # The export imports back unchanged.
    assert _import(runner, tmp_path, exported.output).exit_code == 0
    assert _alerts() == {"sindaco@comune.crema.cr.it": True, "anna@example.org": False}


# --- the roster: API -------------------------------------------------------------------------

MAYOR = {
    "email": "sindaco@comune.offanengo.cr.it",
    "role": "mayor",
    "municipality": "Offanengo",
    "frequency": "weekly",
    "locale": "it",
}


def test_api_mayor_gets_alerts_by_default_and_can_say_no(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    created = client.post("/api/v1/subscribers", json=MAYOR, headers=auth)
    assert created.status_code == 201, created.json
    assert created.json is not None
    assert created.json["alerts"] is True
    off = client.post("/api/v1/subscribers", json={**MAYOR, "alerts": False}, headers=auth)
    assert off.status_code == 200, off.json
    assert off.json is not None
    assert off.json["alerts"] is False
    again = client.post("/api/v1/subscribers", json=MAYOR, headers=auth)
    assert again.json is not None
    assert again.json["alerts"] is False  # absent: unchanged
    mayor = _person(MAYOR["email"])
    assert [d["alerts"] for _a, d in _ledger(mayor.id) if d and "alerts" in d] == [True, False]


def test_api_citizen_alerts_need_a_comune_and_a_boolean(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    citizen = {
        "email": "nina@example.org",
        "role": "citizen",
        "topics": ["welfare"],
        "consent_at": "2026-11-01T10:00:00+01:00",
        "consent_source": "modulo cartaceo",
    }
    plain = client.post("/api/v1/subscribers", json=citizen, headers=auth)
    assert plain.status_code == 201, plain.json
    assert plain.json is not None
    assert plain.json["alerts"] is False
    bad = client.post("/api/v1/subscribers", json={**citizen, "alerts": True}, headers=auth)
    assert bad.status_code == 422
    assert bad.json is not None
    assert bad.json["details"] == {"alerts": "true needs a municipality"}
    assert bad.json["error"] == "alerts true needs a municipality"
    word = client.post(
        "/api/v1/subscribers",
        json={**citizen, "municipality": "Crema", "alerts": "yes"},
        headers=auth,
    )
    assert word.status_code == 422
    assert word.json is not None
    assert "alerts" in word.json["details"]
    ok = client.post(
        "/api/v1/subscribers",
        json={**citizen, "municipality": "Crema", "alerts": True},
        headers=auth,
    )
    assert ok.status_code == 200, ok.json
    assert ok.json is not None
    assert ok.json["alerts"] is True


def test_the_openapi_document_lists_the_field_and_its_rule(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document is not None
    schemas = document["components"]["schemas"]
    field = schemas["SubscriberIn"]["properties"]["alerts"]
    assert field["type"] == "boolean"
    assert "municipality" in field["description"]
    [rule] = schemas["SubscriberIn"]["allOf"]
    assert rule["if"]["properties"] == {"alerts": {"const": True}}
    assert rule["then"]["required"] == ["municipality"]
    assert schemas["SubscriberOut"]["properties"]["alerts"]["type"] == "boolean"
    assert "alerts" in schemas["SubscriberOut"]["required"]


# --- the admin pages -------------------------------------------------------------------------


def test_admin_pages_show_the_choice(admin_client: FlaskClient, client: FlaskClient) -> None:
    post_subscribe(client, "olga@example.org", extra={"municipality": "crema", "alerts": "1"})
    olga = _person("olga@example.org")
    detail = admin_client.get(f"/admin/subscribers/{olga.id}").get_data(as_text=True)
    assert "<dt>Avvisi urgenti</dt><dd>sì</dd>" in detail
    listing = admin_client.get("/admin/subscribers?all=1").get_data(as_text=True)
    assert '<th scope="col">Avvisi urgenti</th>' in listing
    roster = admin_client.get("/admin/roster").get_data(as_text=True)
    assert "alerts (true, false): avvisi urgenti per il comune" in roster
