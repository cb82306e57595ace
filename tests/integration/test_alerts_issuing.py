"""What the issuing doors need from the alerts service: a check that writes nothing (the
preview), the override's own audit row, counts for the admin navigation, the API's view."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter.alerts import service
from newsletter.alerts.models import Alert, AlertMessage
from newsletter.alerts.schemas import AlertIn, AlertUpdateIn
from newsletter.audit import Actor, AuditEntry
from newsletter.db import utcnow
from newsletter.exceptions import Conflict, Forbidden, ValidationError
from newsletter.extensions import db

EDITOR = Actor("editor@example.org")
ADMIN = Actor("admin@example.org")


def _alert(**changes: Any) -> AlertIn:
    body: dict[str, Any] = {
        "headline": "  Bagnolo Cremasco: sagra spostata in piazza  ",
        "text": "Per lavori la sagra si tiene in piazza Roma.",
        "severity": "minor",
        "municipalities": ["Bagnolo Cremasco"],
        "expires_at": (utcnow() + timedelta(days=1)).isoformat(),
    }
    body.update(changes)
    return AlertIn.model_validate(body)


def _count(model: type[Any]) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_check_says_what_issuing_would_do_and_writes_nothing(app: Flask) -> None:
    draft = service.check(_alert(municipalities=["Offanengo", "crema"], topic="mobility"))
    assert draft.municipalities == ("Crema", "Offanengo")
    assert draft.releases_now is True
    assert draft.starts_now is True
    assert draft.topic is not None
    assert draft.topic.slug == "mobility"
    severe = service.check(_alert(severity="severe"))
    assert severe.releases_now is False
    alone = service.check(
        _alert(severity="severe"), may_override=True, override_reason=" piena del Serio "
    )
    assert (alone.releases_now, alone.override_reason) == (True, "piena del Serio")
    with pytest.raises(Forbidden):
        service.check(_alert(severity="severe"), override_reason="da solo")
    with pytest.raises(ValidationError, match="Atlantide"):
        service.check(_alert(municipalities=["Atlantide"]))
    with pytest.raises(ValidationError, match="unknown topic"):
        service.check(_alert(topic="Mobility"))  # slugs are exact: never sent to the database
    assert _count(Alert) == 0
    assert _count(AuditEntry) == 0


def test_headline_is_trimmed_and_controls_replaced(app: Flask) -> None:
    data = _alert(text="riga uno\x00riga due")
    assert data.headline == "Bagnolo Cremasco: sagra spostata in piazza"
    assert data.text == "riga uno\ufffdriga due"
    with pytest.raises(ValueError, match="blank"):
        _alert(headline=" \t ")
    with pytest.raises(ValueError, match="blank"):
        _alert(headline="\v\f")  # blanks as JSON Schema's pattern has them, not controls
    with pytest.raises(ValueError, match="string"):
        _alert(expires_at=1_900_000_000)  # a number is not a date-time (the API says string)


def test_override_has_its_own_audit_row_and_only_for_severe_alerts(app: Flask) -> None:
    service.issue(_alert(), actor=ADMIN, may_override=True, override_reason="non serve")
    service.issue(
        _alert(severity="extreme"), actor=ADMIN, may_override=True, override_reason="evacuare"
    )
    db.session.commit()
    messages = db.session.scalars(sa.select(AlertMessage).order_by(AlertMessage.id)).all()
    assert [m.override_reason for m in messages] == [None, "evacuare"]
    rows = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "alert.override")
    ).all()
    assert [(r.actor, (r.details or {}).get("reason")) for r in rows] == [
        ("admin@example.org", "evacuare")
    ]


def test_counts_for_the_admin_area(app: Flask) -> None:
    waiting = service.issue(_alert(severity="severe"), actor=EDITOR)
    sent = service.issue(_alert(), actor=EDITOR)
    db.session.commit()
    assert service.awaiting_count() == 1
    assert service.waiting_alert_ids([waiting.alert_id, sent.alert_id]) == {waiting.alert_id}
    assert service.waiting_alert_ids([]) == set()
    with pytest.raises(Conflict):
        service.check(_alert(), alert_id=waiting.alert_id)  # pending: nothing to update yet
    update = service.update(
        sent.alert_id,
        AlertUpdateIn.model_validate({**_alert().model_dump(), "severity": "severe"}),
        actor=EDITOR,
        note="  peggiora  ",
    )
    db.session.commit()
    assert update.note == "peggiora"
    assert service.awaiting_count() == 2
    with pytest.raises(Conflict, match="awaiting approval"):
        service.check(_alert(), alert_id=sent.alert_id)


def test_describe_names_every_message_and_its_comuni(app: Flask) -> None:
    first = service.issue(_alert(municipalities=["*"]), actor=EDITOR)
    service.update(first.alert_id, _alert(municipalities=["Ricengo"]), actor=EDITOR, note="solo")
    db.session.commit()
    [out] = service.describe([service.get_alert(first.alert_id)])
    assert out.identifier == f"AOC-{first.alert_id}"
    assert out.municipalities == ["Ricengo"]
    assert [(m.sequence, m.type, m.status, m.municipalities) for m in out.messages] == [
        (1, "alert", "sent", ["*"]),
        (2, "update", "sent", ["Ricengo"]),
    ]
    assert out.expires_at.endswith("Z")
