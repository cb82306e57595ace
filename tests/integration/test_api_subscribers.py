"""POST /api/v1/subscribers: operators add institutional addresses, active at once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.api import service as api_service
from newsletter.api.models import ApiToken
from newsletter.audit import Actor
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.extensions import db
from newsletter.subscriptions import service as subscriptions
from newsletter.subscriptions.models import ConsentAction, ConsentEvent, Subscriber
from tests.fixtures.subscriptions import outbox

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


# --- token scopes, consent and reactivation (issue 12 item 3) --------------------------------

CITIZEN = {"email": "maria@example.org", "role": "citizen", "municipality": "Crema"}


def _status(email: str) -> str:
    found = db.session.scalar(sa.select(Subscriber.status).where(Subscriber.email == email))
    return str(found)


def _confirmations(email: str) -> int:
    sid = db.session.scalar(sa.select(Subscriber.id).where(Subscriber.email == email))
    return len(outbox(DeliveryKind.CONFIRM, sid))


def test_an_articles_token_cannot_add_subscribers(
    client: FlaskClient, articles_auth: dict[str, str]
) -> None:
    response = client.post("/api/v1/subscribers", json=MAYOR, headers=articles_auth)
    assert response.status_code == 403
    assert response.json is not None
    assert response.json["details"]["scope"] == "subscribers"
    assert "subscribers" in response.json["error"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0
    article = {
        "title": "Ciclabile",
        "url": "https://e.it/1",
        "published_at": "2026-11-20T09:00:00Z",
    }
    assert client.post("/api/v1/articles", json=article, headers=articles_auth).status_code == 201


def test_a_subscribers_token_cannot_push_articles(client: FlaskClient, app: Flask) -> None:
    _, token = api_service.create_token("anagrafe", ["subscribers"], actor=Actor("tests"))
    headers = {"Authorization": f"Bearer {token}"}
    article = {
        "title": "Ciclabile",
        "url": "https://e.it/1",
        "published_at": "2026-11-20T09:00:00Z",
    }
    assert client.post("/api/v1/articles", json=article, headers=headers).status_code == 403
    assert client.post("/api/v1/subscribers", json=MAYOR, headers=headers).status_code == 201
    assert client.get("/api/v1/topics", headers=headers).status_code == 200


def test_an_unsubscribed_address_is_not_brought_back_without_reactivate(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    assert client.post("/api/v1/subscribers", json=MAYOR, headers=auth).status_code == 201
    sid = db.session.scalar(sa.select(Subscriber.id))
    assert sid is not None
    assert subscriptions.unsubscribe(sid)
    refused = client.post("/api/v1/subscribers", json=MAYOR, headers=auth)
    assert refused.status_code == 409
    assert refused.json is not None
    assert "reactivate" in refused.json["details"]
    assert _status(MAYOR["email"].lower()) == "unsubscribed"
    back = client.post("/api/v1/subscribers", json={**MAYOR, "reactivate": True}, headers=auth)
    assert back.status_code == 200
    assert back.json is not None
    assert back.json["status"] == "active"
    last = db.session.scalars(
        sa.select(ConsentEvent).where(ConsentEvent.subscriber_id == sid).order_by(ConsentEvent.id)
    ).all()[-1]
    assert last.action is ConsentAction.IMPORT
    assert last.details is not None
    assert last.details["reactivated_from"] == "unsubscribed"
    assert last.actor == "api:cms"


def test_a_citizen_without_proof_of_consent_stays_pending(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.post("/api/v1/subscribers", json=CITIZEN, headers=auth)
    assert response.status_code == 201
    assert response.json is not None
    assert response.json["status"] == "pending"
    assert _confirmations(CITIZEN["email"]) == 1  # the double opt-in mail, as for the form

    # A web sign-up that never confirmed: the API does not make it active without proof.
    again = client.post("/api/v1/subscribers", json={**CITIZEN, "locale": "en"}, headers=auth)
    assert again.status_code == 200
    assert again.json is not None
    assert again.json["status"] == "pending"

    proven = {**CITIZEN, "consent_at": "2024-03-01T10:00:00+01:00", "consent_source": "modulo"}
    active = client.post("/api/v1/subscribers", json=proven, headers=auth)
    assert active.status_code == 200
    assert active.json is not None
    assert active.json["status"] == "active"
    event = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
    assert event is not None
    assert event.details is not None
    assert event.details["consent_source"] == "modulo"
    assert event.details["consent_at"] == "2024-03-01T09:00:00+00:00"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"consent_at": "2024-03-01T10:00:00+01:00"}, "consent_source"),
        ({"consent_source": "modulo"}, "consent_at"),
        ({"consent_at": "ieri", "consent_source": "modulo"}, "consent_at"),
        ({"consent_at": "2024-03-01", "consent_source": "modulo"}, "consent_at"),
        ({"consent_at": None, "consent_source": "modulo"}, "consent_at"),
        ({"reactivate": "yes"}, "reactivate"),
        ({"local_news": "si"}, "local_news"),
    ],
)
def test_bad_consent_fields_are_named(
    client: FlaskClient, auth: dict[str, str], change: dict[str, object], field: str
) -> None:
    response = client.post("/api/v1/subscribers", json={**CITIZEN, **change}, headers=auth)
    assert response.status_code == 422
    assert response.json is not None
    assert field in response.json["details"]


def test_token_create_cli_takes_scopes(runner: FlaskCliRunner, app: Flask) -> None:
    default = runner.invoke(args=["token", "create", "sito"])
    assert default.exit_code == 0, default.output
    both = runner.invoke(
        args=["token", "create", "anagrafe", "--scope", "articles", "--scope", "subscribers"]
    )
    assert both.exit_code == 0, both.output
    bad = runner.invoke(args=["token", "create", "x", "--scope", "everything"])
    assert bad.exit_code != 0
    assert "Traceback" not in bad.output
    stored = dict(db.session.execute(sa.select(ApiToken.name, ApiToken.scopes)).tuples().all())
    assert stored == {"sito": "articles", "anagrafe": "articles subscribers"}
    listed = runner.invoke(args=["token", "list"])
    assert "articles,subscribers" in listed.output


def test_control_characters_are_replaced_not_a_server_error(
    client: FlaskClient, auth: dict[str, str], municipalities: None
) -> None:
    """Schemathesis found it on PostgreSQL: a NUL in a name broke the bulk UPDATE (500)."""
    assert client.post("/api/v1/subscribers", json=MAYOR, headers=auth).status_code == 201
    again = client.post(
        "/api/v1/subscribers",
        json={**MAYOR, "name": "Sindaco\u0000 di Pandino"},
        headers=auth,
    )
    assert again.status_code == 200, again.json
    stored = db.session.scalar(sa.select(Subscriber))
    assert stored is not None
    assert stored.name == "Sindaco\ufffd di Pandino"
