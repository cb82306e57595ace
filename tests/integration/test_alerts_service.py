"""The alerts domain's operations: issuing, four eyes, follow-ups, what the public sees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter import events
from newsletter.alerts import service
from newsletter.alerts.models import AlertNotice, AlertState, MessageStatus, MessageType
from newsletter.alerts.schemas import AlertIn
from newsletter.audit import Actor, AuditEntry
from newsletter.db import utcnow
from newsletter.exceptions import Conflict, Forbidden, ValidationError
from newsletter.extensions import db

EDITOR = Actor("editor@example.org")
SECOND = Actor("second@example.org")


def _alert(**changes: Any) -> AlertIn:
    body: dict[str, Any] = {
        "headline": "Crema: via Mazzini chiusa dalle 14:00",
        "text": "Lavori sulla rete idrica: la strada resta chiusa fino a sera.",
        "severity": "moderate",
        "municipalities": ["Crema", "Offanengo"],
        "expires_at": (utcnow() + timedelta(hours=6)).isoformat(),
    }
    body.update(changes)
    return AlertIn.model_validate(body)


@pytest.fixture
def released(app: Flask) -> list[AlertNotice]:
    seen: list[AlertNotice] = []

    def receiver(notice: AlertNotice, **_: Any) -> None:
        seen.append(notice)

    events.alert_released.connect(receiver)
    yield seen
    events.alert_released.disconnect(receiver)


def test_moderate_alert_goes_out_at_once(app: Flask, released: list[AlertNotice]) -> None:
    with app.app_context():
        message = service.issue(_alert(), actor=EDITOR)
        db.session.commit()
        alert = service.public_alert(message.alert_id)
        assert alert.state is AlertState.PUBLISHED
        assert sorted(m.name for m in alert.municipalities) == ["Crema", "Offanengo"]
        assert [n.msg_type for n in released] == [MessageType.ALERT]
        assert len(released[0].municipality_ids) == 2
        assert service.active_alerts() == [alert]
        actions = db.session.scalars(sa.select(AuditEntry.action)).all()
        assert "alert.issue" in actions


def test_severe_alert_waits_for_a_second_person(app: Flask, released: list[AlertNotice]) -> None:
    with app.app_context():
        message = service.issue(_alert(severity="severe"), actor=EDITOR)
        db.session.commit()
        assert message.status is MessageStatus.AWAITING_APPROVAL
        assert released == []
        assert service.active_alerts() == []
        with pytest.raises(Forbidden):
            service.approve(message.id, actor=EDITOR)
        service.approve(message.id, actor=SECOND)
        db.session.commit()
        assert message.status is MessageStatus.RELEASED
        assert message.approved_by == SECOND.name
        assert len(released) == 1


def test_only_an_administrator_may_release_a_severe_alert_alone(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(Forbidden):
            service.issue(_alert(severity="extreme"), actor=EDITOR, override_reason="urgent")
        message = service.issue(
            _alert(severity="extreme"),
            actor=EDITOR,
            may_override=True,
            override_reason="esondazione in corso",
        )
        assert message.status is MessageStatus.RELEASED
        assert message.override_reason == "esondazione in corso"


def test_a_waiting_message_released_alone_needs_an_administrator_and_a_reason(
    app: Flask, released: list[AlertNotice]
) -> None:
    with app.app_context():
        message = service.issue(_alert(severity="severe"), actor=EDITOR)
        db.session.commit()
        with pytest.raises(Forbidden):
            service.release_alone(message.id, actor=EDITOR, reason="urgent", may_override=False)
        with pytest.raises(ValidationError):
            service.release_alone(message.id, actor=EDITOR, reason=" \n", may_override=True)
        with pytest.raises(ValidationError):
            service.release_alone(message.id, actor=EDITOR, reason="x" * 501, may_override=True)
        assert message.status is MessageStatus.AWAITING_APPROVAL
        assert message.override_reason is None
        assert released == []

        service.release_alone(message.id, actor=EDITOR, reason=" piena ", may_override=True)
        db.session.commit()
        assert message.status is MessageStatus.RELEASED
        assert message.override_reason == "piena"
        assert len(released) == 1
        override = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "alert.override")
        ).one()
        assert override.details == {"sequence": 1, "severity": "severe", "reason": "piena"}
        with pytest.raises(Conflict):
            service.release_alone(message.id, actor=EDITOR, reason="again", may_override=True)


def test_update_and_cancel_are_follow_ups_reaching_every_earlier_comune(
    app: Flask, released: list[AlertNotice]
) -> None:
    with app.app_context():
        first = service.issue(_alert(), actor=EDITOR)
        service.update(
            first.alert_id,
            _alert(municipalities=["Crema"], headline="Riaperta una corsia"),
            actor=EDITOR,
            note="una corsia riaperta",
        )
        service.cancel(first.alert_id, actor=EDITOR, note="lavori finiti")
        db.session.commit()
        assert [n.msg_type for n in released] == [
            MessageType.ALERT,
            MessageType.UPDATE,
            MessageType.CANCEL,
        ]
        assert [n.sequence for n in released] == [1, 2, 3]
        assert len(released[1].municipality_ids) == 2  # Offanengo heard of it: hears the update
        alert = service.public_alert(first.alert_id)
        assert alert.state is AlertState.CANCELLED
        assert service.active_alerts() == []
        with pytest.raises(Conflict):
            service.update(first.alert_id, _alert(), actor=EDITOR)


def test_bad_input_is_a_clear_error(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(ValidationError, match="Atlantide"):
            service.issue(_alert(municipalities=["Crema", "Atlantide"]), actor=EDITOR)
        with pytest.raises(ValidationError, match="past"):
            service.issue(
                _alert(expires_at=(utcnow() - timedelta(hours=1)).isoformat()), actor=EDITOR
            )
    with pytest.raises(ValueError, match="time zone"):
        _alert(expires_at="2026-12-01T10:00:00")
    with pytest.raises(ValueError):
        _alert(headline="x" * 121)


def test_expired_alerts_leave_the_active_list(app: Flask) -> None:
    with app.app_context():
        message = service.issue(_alert(), actor=EDITOR)
        db.session.commit()
        later = utcnow() + timedelta(hours=7)
        assert service.active_alerts(now=later) == []
        assert [a.id for a in service.past_alerts(1, now=later).items] == [message.alert_id]
