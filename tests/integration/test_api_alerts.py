"""/api/v1/alerts: issuing with a token of scope ``alerts``, following up, reading back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter import events
from newsletter.alerts.models import Alert, AlertNotice, AlertState, MessageType
from newsletter.api import service as api_service
from newsletter.audit import Actor, AuditEntry
from newsletter.db import utcnow
from newsletter.extensions import db


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "headline": "Offanengo: acqua sospesa in via Roma dalle 9 alle 13",
        "text": "Lavori urgenti sulla rete idrica. Autobotte in piazza.",
        "severity": "moderate",
        "municipalities": ["Offanengo", "Crema"],
        "topic": "welfare",
        "expires_at": (utcnow() + timedelta(hours=6)).isoformat(),
        "url": "https://www.comune.offanengo.cr.it/avvisi/acqua",
    }
    body.update(changes)
    return body


@pytest.fixture
def alerts_auth(app: Flask) -> dict[str, str]:
    _, token = api_service.create_token("protezione-civile", ["alerts"], actor=Actor("tests"))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def released(app: Flask) -> list[AlertNotice]:
    seen: list[AlertNotice] = []

    def receiver(notice: AlertNotice, **_: Any) -> None:
        seen.append(notice)

    events.alert_released.connect(receiver)
    yield seen
    events.alert_released.disconnect(receiver)


def _alert_count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) or 0)


def test_moderate_alert_is_sent_at_once(
    client: FlaskClient, alerts_auth: dict[str, str], released: list[AlertNotice]
) -> None:
    response = client.post("/api/v1/alerts", json=_body(), headers=alerts_auth)
    assert response.status_code == 201, response.json
    body = response.json
    assert body is not None
    assert body["status"] == "sent"
    assert body["identifier"] == f"AOC-{body['id']}"
    assert body["message"] == 1
    assert [n.alert_id for n in released] == [body["id"]]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "alert.issue"))
    assert entry is not None
    assert entry.actor == "api:protezione-civile"

    shown = client.get(f"/api/v1/alerts/{body['id']}", headers=alerts_auth)
    assert shown.status_code == 200
    alert = shown.json
    assert alert is not None
    assert alert["state"] == "published"
    assert alert["active"] is True
    assert alert["municipalities"] == ["Crema", "Offanengo"]
    assert alert["topic"] == "welfare"
    assert [(m["sequence"], m["type"], m["status"]) for m in alert["messages"]] == [
        (1, "alert", "sent")
    ]
    assert alert["messages"][0]["issued_by"] == "api:protezione-civile"


def test_severe_alert_awaits_approval_and_a_token_cannot_override(
    client: FlaskClient, alerts_auth: dict[str, str], released: list[AlertNotice]
) -> None:
    response = client.post("/api/v1/alerts", json=_body(severity="severe"), headers=alerts_auth)
    assert response.status_code == 201
    assert response.json is not None
    assert response.json["status"] == "awaiting_approval"
    assert released == []
    # The body has no override field: asking for one is a bad body, not a release.
    forced = client.post(
        "/api/v1/alerts",
        json=_body(severity="extreme", override_reason="fiume esondato"),
        headers=alerts_auth,
    )
    assert forced.status_code == 422
    assert forced.json is not None
    assert "override_reason" in forced.json["details"]
    assert released == []
    listed = client.get("/api/v1/alerts?limit=5", headers=alerts_auth)
    assert listed.status_code == 200
    assert listed.json is not None
    assert [a["state"] for a in listed.json["alerts"]] == ["pending"]
    assert listed.json["alerts"][0]["messages"][0]["status"] == "awaiting_approval"


def test_every_scope_but_alerts_gets_403(client: FlaskClient, app: Flask) -> None:
    _, token = api_service.create_token("cms", ["articles", "subscribers"], actor=Actor("tests"))
    headers = {"Authorization": f"Bearer {token}"}
    for method, url in (
        ("post", "/api/v1/alerts"),
        ("get", "/api/v1/alerts"),
        ("get", "/api/v1/alerts/1"),
        ("post", "/api/v1/alerts/1/update"),
        ("post", "/api/v1/alerts/1/cancel"),
    ):
        response = getattr(client, method)(url, json=_body(), headers=headers)
        assert response.status_code == 403, url
        assert response.json is not None
        assert response.json["details"]["scope"] == "alerts"
    assert client.post("/api/v1/alerts", json=_body()).status_code == 401
    assert _alert_count() == 0


def test_bad_bodies_name_their_fields(client: FlaskClient, alerts_auth: dict[str, str]) -> None:
    bad = client.post(
        "/api/v1/alerts",
        json=_body(headline="x" * 121, severity="catastrophic", municipalities=[]),
        headers=alerts_auth,
    )
    assert bad.status_code == 422
    assert bad.json is not None
    assert set(bad.json["details"]) == {"headline", "severity", "municipalities"}
    assert "120" in bad.json["details"]["headline"]

    not_json = client.post(
        "/api/v1/alerts",
        data="headline=x",
        headers={**alerts_auth, "Content-Type": "text/plain"},
    )
    assert not_json.status_code == 400
    assert not_json.json is not None
    assert not_json.json["details"] == {"body": "not JSON"}

    naive = client.post(
        "/api/v1/alerts", json=_body(expires_at="2026-12-01T10:00:00"), headers=alerts_auth
    )
    assert naive.status_code == 422
    assert naive.json is not None
    assert "time zone" in naive.json["details"]["expires_at"]

    past = client.post(
        "/api/v1/alerts",
        json=_body(expires_at=(utcnow() - timedelta(minutes=1)).isoformat()),
        headers=alerts_auth,
    )
    assert past.status_code == 422
    assert past.json is not None
    assert past.json["details"] == {"expires_at": "must be in the future"}

    everywhere_and_one = client.post(
        "/api/v1/alerts", json=_body(municipalities=["*", "Crema"]), headers=alerts_auth
    )
    assert everywhere_and_one.status_code == 422
    assert _alert_count() == 0


def test_unknown_comune_is_named(client: FlaskClient, alerts_auth: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/alerts",
        json=_body(municipalities=["Crema", "Atlantide", "Eldorado"]),
        headers=alerts_auth,
    )
    assert response.status_code == 422
    assert response.json is not None
    assert "Atlantide" in response.json["error"]
    assert "Eldorado" in response.json["details"]["municipalities"]
    assert _alert_count() == 0


def test_all_comuni_and_follow_ups(
    client: FlaskClient, alerts_auth: dict[str, str], released: list[AlertNotice]
) -> None:
    issued = client.post(
        "/api/v1/alerts", json=_body(municipalities=["*"], topic=None), headers=alerts_auth
    ).json
    assert issued is not None
    alert_id = issued["id"]
    update = client.post(
        f"/api/v1/alerts/{alert_id}/update",
        json=_body(
            municipalities=["Offanengo"],
            headline="Offanengo: acqua sospesa fino alle 15",
            note="i lavori durano due ore in più",
        ),
        headers=alerts_auth,
    )
    assert update.status_code == 201, update.json
    assert update.json is not None
    assert (update.json["message"], update.json["status"]) == (2, "sent")

    no_reason = client.post(f"/api/v1/alerts/{alert_id}/cancel", json={}, headers=alerts_auth)
    assert no_reason.status_code == 422
    assert no_reason.json is not None
    assert "reason" in no_reason.json["details"]

    cancel = client.post(
        f"/api/v1/alerts/{alert_id}/cancel", json={"reason": "lavori finiti"}, headers=alerts_auth
    )
    assert cancel.status_code == 200
    assert cancel.json is not None
    assert (cancel.json["message"], cancel.json["status"]) == (3, "sent")
    assert [n.msg_type for n in released] == [
        MessageType.ALERT,
        MessageType.UPDATE,
        MessageType.CANCEL,
    ]
    again = client.post(f"/api/v1/alerts/{alert_id}/update", json=_body(), headers=alerts_auth)
    assert again.status_code == 409
    shown = client.get(f"/api/v1/alerts/{alert_id}", headers=alerts_auth).json
    assert shown is not None
    assert shown["state"] == "cancelled"
    assert shown["active"] is False
    assert [m["municipalities"] for m in shown["messages"]] == [
        ["*"],
        ["Offanengo"],
        ["Offanengo"],
    ]
    assert shown["messages"][1]["note"] == "i lavori durano due ore in più"
    assert shown["messages"][2]["note"] == "lavori finiti"
    assert client.get("/api/v1/alerts/999999", headers=alerts_auth).status_code == 404


def test_cancelling_an_alert_awaiting_approval_withdraws_it(
    client: FlaskClient, alerts_auth: dict[str, str], released: list[AlertNotice]
) -> None:
    issued = client.post("/api/v1/alerts", json=_body(severity="extreme"), headers=alerts_auth).json
    assert issued is not None
    response = client.post(
        f"/api/v1/alerts/{issued['id']}/cancel",
        json={"reason": "inviato per errore"},
        headers=alerts_auth,
    )
    assert response.status_code == 200
    assert response.json is not None
    assert (response.json["message"], response.json["status"]) == (None, "withdrawn")
    assert released == []
    assert db.session.get(Alert, issued["id"]).state is AlertState.REJECTED  # type: ignore[union-attr]


def test_the_document_describes_the_alert_routes(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document is not None
    paths = document["paths"]
    assert set(paths["/api/v1/alerts"]) == {"get", "post"}
    assert paths["/api/v1/alerts"]["post"]["x-token-scope"] == "alerts"
    assert set(paths["/api/v1/alerts/{id}/update"]) == {"post"}
    assert set(paths["/api/v1/alerts/{id}/cancel"]) == {"post"}
    schema = document["components"]["schemas"]["AlertIn"]
    names = schema["properties"]["municipalities"]["anyOf"][0]["items"]["enum"]
    assert len(names) == 48
    assert "Offanengo" in names
    assert schema["properties"]["topic"]["anyOf"][0]["enum"] == [
        "welfare",
        "mobility",
        "energy",
        "governance",
    ]
