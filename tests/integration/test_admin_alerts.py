"""Alerts in the admin area: form, preview, issue; four eyes; override; update and cancel.

Every request goes through the real forms with their CSRF tokens, signed in as real accounts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter import events
from newsletter.admin.models import User, UserRole
from newsletter.alerts.models import (
    Alert,
    AlertMessage,
    AlertNotice,
    AlertState,
    MessageStatus,
    MessageType,
)
from newsletter.audit import AuditEntry
from newsletter.db import utcnow
from newsletter.extensions import db
from tests.fixtures.admin import ADMIN_EMAIL, EDITOR_EMAIL, FAST_HASHING, browser, csrf_token, login

ROME = ZoneInfo("Europe/Rome")
SECOND_EDITOR = "seconda.redazione@consorzio.example"


def _local(delta: timedelta) -> str:
    """A datetime-local value, as the browser sends it (Europe/Rome, to the minute)."""
    return (utcnow() + delta).astimezone(ROME).strftime("%Y-%m-%dT%H:%M")


def _fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "headline": "Crema: via Mazzini chiusa dalle 14:00",
        "text": "Lavori sulla rete idrica.\r\nDeviazione per via Cavour.",
        "severity": "moderate",
        "municipalities": ["Crema", "Offanengo"],
        "topic": "mobility",
        "starts_at": "",
        "expires_at": _local(timedelta(hours=6)),
        "url": "https://www.comune.crema.cr.it/avvisi/mazzini",
        "headline_en": "",
        "text_en": "",
    }
    fields.update(changes)
    return fields


def _post(client: FlaskClient, url: str, data: dict[str, Any], page: str | None = None) -> Any:
    token = csrf_token(page if page is not None else client.get(url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def _hidden(page: str) -> dict[str, list[str]]:
    """The hidden fields of the preview's form (what it carries back)."""
    found: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page):
        found.setdefault(name, []).append(unescape(value))
    return found


@pytest.fixture
def released(app: Flask) -> list[AlertNotice]:
    seen: list[AlertNotice] = []

    def receiver(notice: AlertNotice, **_: Any) -> None:
        seen.append(notice)

    events.alert_released.connect(receiver)
    yield seen
    events.alert_released.disconnect(receiver)


@pytest.fixture
def second_editor(app: Flask, make_user: Callable[..., User]) -> FlaskClient:
    make_user(SECOND_EDITOR, UserRole.EDITOR)
    return login(browser(app), SECOND_EDITOR)


@pytest.fixture
def editor(app: Flask, editor_user: User) -> FlaskClient:
    """The editor in a browser of their own (several people act in these tests)."""
    return login(browser(app), EDITOR_EMAIL)


@pytest.fixture
def admin(app: Flask, admin_user: User) -> FlaskClient:
    return login(browser(app), ADMIN_EMAIL)


def _only_alert() -> Alert:
    alert = db.session.scalars(sa.select(Alert)).one()
    return alert


def test_form_preview_and_issue(editor: FlaskClient, released: list[AlertNotice]) -> None:
    form = editor.get("/admin/alerts/new")
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert page.count('type="checkbox" name="municipalities"') == 49  # 48 comuni and "all"
    assert '<option value="severe">Grave</option>' in page
    assert 'name="override_reason"' not in page  # editors cannot release severe alerts alone

    preview = _post(editor, "/admin/alerts/new", _fields(), page)
    assert preview.status_code == 200
    shown = preview.get_data(as_text=True)
    assert "Anteprima" in shown
    assert "Crema, Offanengo" in shown
    # The e-mail's own subject (alerts.mail), with the severity in words.
    assert "Avviso — gravità: moderata · Crema: via Mazzini chiusa dalle 14:00" in shown
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
    carried = _hidden(shown)
    assert carried["municipalities"] == ["Crema", "Offanengo"]
    assert carried["text"] == ["Lavori sulla rete idrica.\nDeviazione per via Cavour."]

    # Back to the form: everything typed is still there.
    back = _post(
        editor,
        "/admin/alerts/new",
        {**{k: v[0] if len(v) == 1 else v for k, v in carried.items()}, "action": "edit"},
        shown,
    )
    assert back.status_code == 200
    again = back.get_data(as_text=True)
    assert 'value="Crema: via Mazzini chiusa dalle 14:00"' in again
    assert re.search(r'value="Offanengo" checked', again)
    assert "Deviazione per via Cavour." in again

    sent = _post(
        editor,
        "/admin/alerts/new",
        {**{k: v[0] if len(v) == 1 else v for k, v in carried.items()}, "action": "issue"},
        shown,
    )
    assert sent.status_code == 302
    alert = _only_alert()
    assert sent.headers["Location"] == f"/admin/alerts/{alert.id}"
    assert alert.state is AlertState.PUBLISHED
    assert alert.text == "Lavori sulla rete idrica.\nDeviazione per via Cavour."
    assert alert.topic is not None
    assert alert.topic.slug == "mobility"
    assert [n.alert_id for n in released] == [alert.id]
    detail = editor.get(sent.headers["Location"]).get_data(as_text=True)
    assert f"AOC-{alert.id} inviato." in detail
    assert f'href="/avvisi/{alert.id}"' in detail  # its public page
    assert EDITOR_EMAIL in detail
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "alert.issue"))
    assert entry is not None
    assert entry.actor == EDITOR_EMAIL


def test_local_times_are_stored_in_utc(editor: FlaskClient) -> None:
    start = (
        (utcnow() + timedelta(days=40))
        .astimezone(ROME)
        .replace(hour=14, minute=0, second=0, microsecond=0)
    )
    end = start + timedelta(hours=5)
    fields = _fields(
        starts_at=start.strftime("%Y-%m-%dT%H:%M"),
        expires_at=end.strftime("%Y-%m-%dT%H:%M"),
        action="issue",
    )
    assert _post(editor, "/admin/alerts/new", fields).status_code == 302
    alert = _only_alert()
    assert alert.starts_at == start.astimezone(UTC)
    assert alert.expires_at == end.astimezone(UTC)
    assert alert.starts_at.hour == 14 - int(start.utcoffset().total_seconds() // 3600)  # type: ignore[union-attr]
    # Shown again in Rome's time, prefilled for an update.
    update = editor.get(f"/admin/alerts/{alert.id}/update").get_data(as_text=True)
    assert f'value="{start.strftime("%Y-%m-%dT%H:%M")}"' in update


def test_errors_keep_what_was_typed(editor: FlaskClient) -> None:
    response = _post(
        editor,
        "/admin/alerts/new",
        _fields(
            headline="x" * 121,
            municipalities=[],
            expires_at=_local(timedelta(hours=-1)),
            url="www.comune.crema.cr.it",
        ),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Correggi" in page or "correggi" in page
    assert "Scegli almeno un comune" in page
    assert "x" * 121 in page  # kept, even though it is too long
    assert "Lavori sulla rete idrica." in page
    assert 'aria-invalid="true"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0

    past = _post(editor, "/admin/alerts/new", _fields(expires_at=_local(-timedelta(hours=1))))
    assert past.status_code == 422
    assert "La fine deve essere nel futuro." in past.get_data(as_text=True)

    backwards = _post(
        editor,
        "/admin/alerts/new",
        _fields(starts_at=_local(timedelta(hours=8)), expires_at=_local(timedelta(hours=7))),
    )
    assert backwards.status_code == 422
    assert "La fine deve venire dopo l&#39;inizio." in backwards.get_data(as_text=True)

    bad_link = _post(editor, "/admin/alerts/new", _fields(url="ftp://comune.example/x"))
    assert bad_link.status_code == 422
    assert "https://" in bad_link.get_data(as_text=True)


def test_everywhere_wins_over_single_comuni(editor: FlaskClient) -> None:
    fields = _fields(municipalities=["*", "Crema"], action="issue")
    assert _post(editor, "/admin/alerts/new", fields).status_code == 302
    alert = _only_alert()
    assert alert.all_municipalities is True
    assert alert.municipalities == []


def test_four_eyes_issuer_cannot_approve_a_second_person_can(
    app: Flask,
    editor: FlaskClient,
    second_editor: FlaskClient,
    released: list[AlertNotice],
) -> None:
    sent = _post(editor, "/admin/alerts/new", _fields(severity="severe", action="issue"))
    assert sent.status_code == 302
    alert = _only_alert()
    assert alert.state is AlertState.PENDING
    assert released == []
    detail = editor.get(sent.headers["Location"]).get_data(as_text=True)
    assert "approvazione di una seconda persona" in detail

    # The count shows in the navigation and on the dashboard.
    dashboard = second_editor.get("/admin/").get_data(as_text=True)
    assert '<span class="nav-badge" aria-hidden="true">1</span>' in dashboard
    assert "Avvisi in attesa di approvazione" in dashboard

    queue = editor.get("/admin/alerts/approvals").get_data(as_text=True)
    assert "Crema: via Mazzini chiusa dalle 14:00" in queue
    assert "Hai emesso tu questo messaggio" in queue
    assert "/approve" not in queue
    message = db.session.scalars(sa.select(AlertMessage)).one()
    refused = _post(editor, f"/admin/alerts/messages/{message.id}/approve", {}, queue)
    assert refused.status_code == 302
    after = editor.get(refused.headers["Location"]).get_data(as_text=True)
    assert "una seconda persona deve approvarlo" in after
    db.session.expire_all()
    assert message.status is MessageStatus.AWAITING_APPROVAL

    their_queue = second_editor.get("/admin/alerts/approvals").get_data(as_text=True)
    assert f"/admin/alerts/messages/{message.id}/approve" in their_queue
    approved = _post(second_editor, f"/admin/alerts/messages/{message.id}/approve", {}, their_queue)
    assert approved.status_code == 302
    db.session.expire_all()
    assert message.status is MessageStatus.RELEASED
    assert message.approved_by == SECOND_EDITOR
    assert _only_alert().state is AlertState.PUBLISHED
    assert len(released) == 1
    approve = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "alert.approve"))
    assert approve is not None
    assert approve.actor == SECOND_EDITOR
    assert "Nessun messaggio" in second_editor.get("/admin/alerts/approvals").get_data(as_text=True)


def test_reject_needs_a_reason(
    editor: FlaskClient, admin: FlaskClient, released: list[AlertNotice]
) -> None:
    _post(editor, "/admin/alerts/new", _fields(severity="extreme", action="issue"))
    message = db.session.scalars(sa.select(AlertMessage)).one()
    queue = admin.get("/admin/alerts/approvals").get_data(as_text=True)
    empty = _post(admin, f"/admin/alerts/messages/{message.id}/reject", {"reason": " "}, queue)
    assert "Spiega perché" in admin.get(empty.headers["Location"]).get_data(as_text=True)
    _post(
        admin,
        f"/admin/alerts/messages/{message.id}/reject",
        {"reason": "non è estremo: è un'allerta gialla"},
        queue,
    )
    db.session.expire_all()
    assert message.status is MessageStatus.REJECTED
    assert _only_alert().state is AlertState.REJECTED
    assert released == []
    detail = editor.get(f"/admin/alerts/{message.alert_id}").get_data(as_text=True)
    assert "non è estremo: è un&#39;allerta gialla" in detail
    assert ADMIN_EMAIL in detail


def test_administrator_may_release_alone_with_a_reason(
    admin: FlaskClient, editor: FlaskClient, released: list[AlertNotice]
) -> None:
    form = admin.get("/admin/alerts/new").get_data(as_text=True)
    assert 'name="override_reason"' in form
    # Without a reason an administrator's severe alert waits like anyone's.
    _post(admin, "/admin/alerts/new", _fields(severity="severe", action="issue"), form)
    first = db.session.scalars(sa.select(Alert)).one()
    assert first.state is AlertState.PENDING

    preview = _post(
        admin,
        "/admin/alerts/new",
        _fields(severity="extreme", override_reason="il Serio esonda ora"),
        form,
    ).get_data(as_text=True)
    assert "Lo invii da solo" in preview
    assert "il Serio esonda ora" in preview
    sent = _post(
        admin,
        "/admin/alerts/new",
        _fields(severity="extreme", override_reason="il Serio esonda ora", action="issue"),
        form,
    )
    assert sent.status_code == 302
    second = db.session.scalars(sa.select(Alert).order_by(Alert.id.desc())).first()
    assert second is not None
    assert second.state is AlertState.PUBLISHED
    assert second.messages[0].override_reason == "il Serio esonda ora"
    assert len(released) == 1
    override = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "alert.override"))
    assert override is not None
    assert override.actor == ADMIN_EMAIL
    assert override.details is not None
    assert override.details["reason"] == "il Serio esonda ora"
    audit_page = admin.get("/admin/audit?action=alert.override").get_data(as_text=True)
    assert "il Serio esonda ora" in audit_page
    assert ADMIN_EMAIL in audit_page

    # An editor's form has no such field, and a hand-made request is refused.
    refused = _post(
        editor,
        "/admin/alerts/new",
        _fields(severity="extreme", override_reason="vado da solo", action="issue"),
    )
    assert refused.status_code == 422
    assert "amministratore" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 2
    assert len(released) == 1


def test_administrator_releases_their_own_waiting_alert_alone_with_a_reason(
    admin: FlaskClient, editor: FlaskClient, released: list[AlertNotice]
) -> None:
    """At night the administrator who queued a severe alert is alone: from the queue they
    send it themselves, with a reason the log keeps; an editor cannot."""
    _post(admin, "/admin/alerts/new", _fields(severity="severe", action="issue"))
    message = db.session.scalars(sa.select(AlertMessage)).one()
    assert message.status is MessageStatus.AWAITING_APPROVAL
    release = f"/admin/alerts/messages/{message.id}/release"

    queue = admin.get("/admin/alerts/approvals").get_data(as_text=True)
    assert "Hai emesso tu questo messaggio" in queue
    assert release in queue
    assert "Invialo da solo" in queue
    editors_queue = editor.get("/admin/alerts/approvals").get_data(as_text=True)
    assert release not in editors_queue

    assert _post(editor, release, {"override_reason": "vado io"}, editors_queue).status_code == 403
    empty = _post(admin, release, {"override_reason": "  "}, queue)
    assert "Spiega perché non può aspettare" in admin.get(empty.headers["Location"]).get_data(
        as_text=True
    )
    db.session.expire_all()
    assert message.status is MessageStatus.AWAITING_APPROVAL
    assert released == []

    sent = _post(admin, release, {"override_reason": "notte, nessun altro reperibile"}, queue)
    assert sent.status_code == 302
    done = admin.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Inviato senza seconda approvazione" in done
    assert "Nessun messaggio in attesa di approvazione." in done
    db.session.expire_all()
    assert message.status is MessageStatus.RELEASED
    assert message.approved_by is None
    assert message.override_reason == "notte, nessun altro reperibile"
    assert _only_alert().state is AlertState.PUBLISHED
    assert len(released) == 1
    override = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "alert.override"))
    assert override is not None
    assert override.actor == ADMIN_EMAIL
    assert override.details is not None
    assert override.details["reason"] == "notte, nessun altro reperibile"
    detail = admin.get(f"/admin/alerts/{message.alert_id}").get_data(as_text=True)
    assert "notte, nessun altro reperibile" in detail

    # Sent once: a second click (another tab) finds nothing waiting.
    again = _post(admin, release, {"override_reason": "di nuovo"}, queue)
    refused = admin.get(again.headers["Location"]).get_data(as_text=True)
    # The service's English words, marked as English on the Italian page (WCAG 3.1.2).
    identifier = _only_alert().identifier  # AOC-<id>: ids are not reset between tests
    assert (
        f'Non eseguito: <span lang="en">alert {identifier} message 1 is released, not awaiting '
        "approval</span>" in refused
    )
    assert len(released) == 1


def test_update_and_cancel(editor: FlaskClient, released: list[AlertNotice]) -> None:
    _post(editor, "/admin/alerts/new", _fields(action="issue"))
    alert = _only_alert()
    url = f"/admin/alerts/{alert.id}/update"
    form = editor.get(url).get_data(as_text=True)
    assert 'value="Crema: via Mazzini chiusa dalle 14:00"' in form
    assert re.search(r'value="Crema" checked', form)
    assert re.search(r'value="Offanengo" checked', form)
    assert 'value="mobility" selected' in form

    changed = _fields(headline="Crema: via Mazzini riaperta alle 18:00", municipalities=["Crema"])
    no_note = _post(editor, url, changed, form)
    assert no_note.status_code == 422
    assert "Scrivi che cosa è cambiato" in no_note.get_data(as_text=True)

    preview = _post(editor, url, {**changed, "note": "riapre prima"}, form)
    assert preview.status_code == 200
    shown = preview.get_data(as_text=True)
    assert f"Anteprima dell'aggiornamento di AOC-{alert.id}" in unescape(shown)
    assert _hidden(shown)["note"] == ["riapre prima"]
    sent = _post(editor, url, {**changed, "note": "riapre prima", "action": "issue"}, form)
    assert sent.status_code == 302
    db.session.expire_all()
    assert alert.headline == "Crema: via Mazzini riaperta alle 18:00"
    assert [m.msg_type for m in alert.messages] == [MessageType.ALERT, MessageType.UPDATE]
    assert alert.messages[1].note == "riapre prima"

    detail_url = f"/admin/alerts/{alert.id}"
    detail = editor.get(detail_url).get_data(as_text=True)
    assert "Aggiorna l'avviso" in unescape(detail)
    no_reason = _post(editor, f"/admin/alerts/{alert.id}/cancel", {"reason": ""}, detail)
    assert "Spiega perché" in editor.get(no_reason.headers["Location"]).get_data(as_text=True)
    _post(editor, f"/admin/alerts/{alert.id}/cancel", {"reason": "lavori finiti"}, detail)
    db.session.expire_all()
    assert alert.state is AlertState.CANCELLED
    assert [n.msg_type for n in released] == [
        MessageType.ALERT,
        MessageType.UPDATE,
        MessageType.CANCEL,
    ]
    page = editor.get(detail_url).get_data(as_text=True)
    assert "revocato" in page
    assert "lavori finiti" in page
    assert "Aggiorna l'avviso" not in unescape(page)  # nothing to follow up any more
    assert editor.get(url).status_code == 302
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.action.like("alert.%"))
    ).all()
    assert sorted(actions) == ["alert.cancel", "alert.issue", "alert.update"]


def test_english_pages(editor: FlaskClient) -> None:
    page = editor.get("/admin/alerts/new?lang=en").get_data(as_text=True)
    assert "New alert" in page
    preview = _post(editor, "/admin/alerts/new", _fields(severity="severe"), page)
    shown = preview.get_data(as_text=True)
    assert "It waits for a second person" in shown
    assert "Alert — severity: severe · Crema: via Mazzini chiusa dalle 14:00" in shown


def test_alert_list(editor: FlaskClient) -> None:
    assert "Nessun avviso" in editor.get("/admin/alerts").get_data(as_text=True)
    _post(editor, "/admin/alerts/new", _fields(action="issue", municipalities=["*"]))
    _post(
        editor,
        "/admin/alerts/new",
        _fields(action="issue", severity="extreme", headline="Allerta rossa nel Cremasco"),
    )
    listing = editor.get("/admin/alerts").get_data(as_text=True)
    assert "tutti i comuni" in listing
    assert "in vigore" in listing
    assert "in attesa di approvazione" in listing
    assert "estrema" in listing
    assert "Coda di approvazione" in listing


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)
