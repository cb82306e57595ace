"""POST /api/v1/subscribers: operators add institutional addresses, active at once."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from newsletter.delivery.models import Delivery
from newsletter.extensions import db
from newsletter.subscriptions.models import ConsentAction, ConsentEvent, Subscriber

MAYOR = {
    "email": "Sindaco@Comune.Pandino.CR.it",
    "role": "mayor",
    "municipality": "Pandino",
    "topics": ["welfare", "governance"],
    "frequency": "weekly",
    "locale": "it",
    "name": "Sindaco di Pandino",
}


def test_creates_an_active_subscriber_without_opt_in(
    client: FlaskClient, auth: dict[str, str], municipalities: None
) -> None:
    response = client.post("/api/v1/subscribers", json=MAYOR, headers=auth)
    assert response.status_code == 201, response.json
    body = response.json
    assert body is not None
    assert body["email"] == "sindaco@comune.pandino.cr.it"
    assert body["status"] == "active"
    assert body["municipality"] == "Pandino"
    assert body["topics"] == ["governance", "welfare"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0
    event = db.session.scalar(sa.select(ConsentEvent))
    assert event is not None
    assert event.action is ConsentAction.IMPORT
    assert event.channel == "api"
    assert event.actor is not None
    assert event.actor.startswith("api:")


def test_same_address_again_updates(
    client: FlaskClient, auth: dict[str, str], municipalities: None
) -> None:
    assert client.post("/api/v1/subscribers", json=MAYOR, headers=auth).status_code == 201
    again = client.post(
        "/api/v1/subscribers", json={**MAYOR, "locale": "en", "topics": ["energy"]}, headers=auth
    )
    assert again.status_code == 200
    assert again.json is not None
    assert again.json["topics"] == ["energy"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 1


def test_unknown_municipality_is_422(
    client: FlaskClient, auth: dict[str, str], municipalities: None
) -> None:
    response = client.post(
        "/api/v1/subscribers", json={**MAYOR, "municipality": "Milano"}, headers=auth
    )
    assert response.status_code == 422
    assert response.json is not None
    assert "municipality" in response.json["details"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0


def test_bad_fields_are_named(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/subscribers",
        json={"email": "not-an-address", "role": "king", "topics": ["sport"]},
        headers=auth,
    )
    assert response.status_code == 422
    details = response.json["details"] if response.json else {}
    assert set(details) == {"email", "role", "topics"}
    assert client.post("/api/v1/subscribers", data="x", headers=auth).status_code == 400


def test_needs_a_token(client: FlaskClient) -> None:
    response = client.post("/api/v1/subscribers", json=MAYOR)
    assert response.status_code == 401
