"""A digest that goes wrong stops itself (``SEND_ERROR_THRESHOLD``), says why in the admin
area, and an administrator sends the rest or cancels them. Real aiosmtpd relay."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin.models import AuditEntry
from newsletter.delivery.models import Delivery, DeliveryHold, HoldResolution
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.extensions import db
from tests.fixtures.admin import csrf_token
from tests.fixtures.delivery import Relay

Outbox = Callable[..., Any]


def send_until_idle(app: Flask) -> Any:
    return Sender(app, SmtpRelayTransport.from_config(app.config)).run(
        threading.Event(), until_idle=True
    )


def statuses(digest_id: int) -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.count())
        .where(Delivery.digest_id == digest_id)
        .group_by(Delivery.status)
    ).all()
    return {str(status): n for status, n in rows}


def reject(relay: Relay, numbers: range) -> None:
    for n in numbers:
        relay.handler.rcpt_replies[f"reader{n}@example.org"] = ["550 5.1.1 no such mailbox"]


@pytest.fixture
def bad_digest(app: Flask, relay: Relay, outbox: Outbox) -> int:
    """100 recipients, the first 40 refused for good: more than 20 % of the attempts fail."""
    relay.configure(app, SEND_CONCURRENCY=1, SEND_BATCH_SIZE=10, SEND_MAX_UNRECORDED=4)
    digest, _ = outbox(100)
    reject(relay, range(40))
    return int(digest.id)


def test_too_many_permanent_failures_pause_the_rest(
    app: Flask, relay: Relay, bad_digest: int
) -> None:
    send_until_idle(app)

    counts = statuses(bad_digest)
    assert counts.get("paused", 0) > 0, counts
    # Paused once 21 of 100 (> 20 %) had failed, give or take the few on the wire meanwhile.
    assert 21 <= counts["failed"] <= 30, counts
    assert "queued" not in counts
    assert "sending" not in counts
    assert len(relay.handler.received) == counts.get("sent", 0)
    hold = db.session.get(DeliveryHold, bad_digest)
    assert hold is not None
    assert hold.failures >= 21
    assert f"{hold.failures} of the first {hold.attempts} attempts" in hold.reason
    assert "550 5.1.1" in hold.reason
    assert send_until_idle(app).sent == 0, "paused rows are not sent"


def test_below_the_threshold_nothing_pauses(app: Flask, relay: Relay, outbox: Outbox) -> None:
    relay.configure(app, SEND_CONCURRENCY=1)
    digest, _ = outbox(100)
    reject(relay, range(15))

    send_until_idle(app)

    assert statuses(digest.id) == {"failed": 15, "sent": 85}
    assert db.session.get(DeliveryHold, digest.id) is None


def test_the_admin_sees_why_and_resumes(
    app: Flask, relay: Relay, bad_digest: int, admin_client: FlaskClient
) -> None:
    send_until_idle(app)
    paused = statuses(bad_digest)["paused"]

    page = admin_client.get("/admin/digests").get_data(as_text=True)
    assert "550 5.1.1" in page
    assert f"/admin/digests/{bad_digest}/resume" in page
    response = admin_client.post(
        f"/admin/digests/{bad_digest}/resume", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302
    assert statuses(bad_digest).get("queued") == paused

    send_until_idle(app)

    counts = statuses(bad_digest)
    assert "paused" not in counts, "a resumed digest is not judged again"
    assert counts["sent"] == 60
    hold = db.session.get(DeliveryHold, bad_digest)
    assert hold is not None
    assert hold.resolution is HoldResolution.RESUMED
    assert hold.resolved_by is not None
    assert "@" in hold.resolved_by
    actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert "digest.resumed_paused" in actions


def test_the_admin_cancels(
    app: Flask, relay: Relay, bad_digest: int, admin_client: FlaskClient
) -> None:
    send_until_idle(app)
    paused = statuses(bad_digest)["paused"]
    page = admin_client.get("/admin/digests").get_data(as_text=True)

    admin_client.post(f"/admin/digests/{bad_digest}/cancel", data={"csrf_token": csrf_token(page)})

    assert statuses(bad_digest).get("cancelled", 0) >= paused
    assert "paused" not in statuses(bad_digest)
    assert send_until_idle(app).sent == 0


def test_editors_cannot_decide(
    app: Flask, relay: Relay, bad_digest: int, editor_client: FlaskClient
) -> None:
    send_until_idle(app)
    page = editor_client.get("/admin/digests").get_data(as_text=True)
    assert "550 5.1.1" in page  # they see why
    response = editor_client.post(
        f"/admin/digests/{bad_digest}/resume", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 403
    assert statuses(bad_digest)["paused"] > 0
