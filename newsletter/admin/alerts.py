"""Urgent alerts in the admin area: the list, a new alert or an update (form, preview, issue),
the approval queue (four eyes), an alert's page with its messages, cancelling.

HTTP only: the form's data becomes the API's ``AlertIn`` and goes to ``alerts.service``, which
checks it again, decides whether a second person must approve, writes the audit rows and
announces what it releases. The preview runs the same checks (``service.check``) and writes
nothing; its page carries everything typed in hidden fields, so going back loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from newsletter import schemas
from newsletter.admin import auth
from newsletter.admin.forms import AlertForm
from newsletter.admin.models import UserRole
from newsletter.admin.views import ADMIN, EDITOR, attempt, bp
from newsletter.alerts import mail as alert_mail
from newsletter.alerts import service
from newsletter.alerts.models import (
    MAX_NOTE,
    Alert,
    AlertMessage,
    AlertNotice,
    AlertState,
    MessageStatus,
    MessageType,
)
from newsletter.alerts.schemas import ALL, AlertIn
from newsletter.alerts.words import severity_word
from newsletter.db import utcnow
from newsletter.exceptions import NewsletterError, ValidationError
from newsletter.extensions import db
from newsletter.i18n import select_locale
from newsletter.reference.service import list_topics, municipality_names
from newsletter.vocabulary import AlertSeverity
from newsletter.web import page_arg

# Form fields named as AlertIn names them (errors from the schema or the service land there).
FORM_FIELDS = (
    "headline",
    "text",
    "severity",
    "municipalities",
    "topic",
    "starts_at",
    "expires_at",
    "url",
    "headline_en",
    "text_en",
)

# Everything the preview page carries back (to issue, or to go back and edit).
HIDDEN_FIELDS = (*FORM_FIELDS, "override_reason", "note")


def severity_label(value: AlertSeverity | str) -> str:
    """The severity in words (never by colour alone), in the page's language and in the
    words the alert's e-mail uses."""
    return severity_word(value, select_locale())


def state_label(alert: Alert) -> str:
    if alert.state is AlertState.PUBLISHED:
        return str(_("in force") if alert.is_active(utcnow()) else _("expired"))
    words = {
        AlertState.PENDING: _("awaiting approval"),
        AlertState.CANCELLED: _("cancelled"),
        AlertState.REJECTED: _("rejected"),
    }
    return str(words[alert.state])


def state_key(alert: Alert) -> str:
    """The CSS hook of the state label (the words say it too)."""
    if alert.state is AlertState.PUBLISHED and not alert.is_active(utcnow()):
        return "expired"
    return alert.state.value


def message_type_label(value: MessageType) -> str:
    words = {
        MessageType.ALERT: _("alert"),
        MessageType.UPDATE: _("update"),
        MessageType.CANCEL: _("cancellation"),
    }
    return str(words[value])


def message_status_label(value: MessageStatus) -> str:
    words = {
        MessageStatus.AWAITING_APPROVAL: _("awaiting approval"),
        MessageStatus.RELEASED: _("sent"),
        MessageStatus.REJECTED: _("rejected"),
    }
    return str(words[value])


# The service's and the schema's field messages, in the page's language.
FIELD_MESSAGES: dict[str, Any] = {
    "must be in the future": _l("The end must be in the future."),
    "must be after starts_at": _l("The end must come after the start."),
    "must be an http:// or https:// address": _l(
        "Give a full address starting with https:// (or http://)."
    ),
    "must not be blank": _l("This field cannot be blank."),
    "only an administrator may release a severe alert alone": _l(
        "Only an administrator may release a severe or extreme alert alone."
    ),
}


def _field_message(message: str) -> str:
    translated = FIELD_MESSAGES.get(message)
    return str(translated) if translated is not None else message


def nav_badges() -> dict[str, tuple[int, str]]:
    """Numbers shown next to navigation entries: the messages awaiting approval."""
    count = service.awaiting_count()
    if not count:
        return {}
    return {"admin.alerts": (count, _("%(num)d awaiting approval", num=count))}


def _render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(
        template,
        severity_label=severity_label,
        state_label=state_label,
        state_key=state_key,
        message_type_label=message_type_label,
        message_status_label=message_status_label,
        **context,
    ), status


# --- the form ------------------------------------------------------------------------------


def _form(alert: Alert | None = None) -> AlertForm:
    """The form with its choices; on GET for an update, prefilled with the alert's content."""
    form = AlertForm(obj=None) if alert is None or request.method == "POST" else _prefilled(alert)
    form.severity.choices = [("", _("Choose…"))] + [
        (s.value, severity_label(s).capitalize()) for s in AlertSeverity
    ]
    form.municipalities.choices = [(ALL, _("all the comuni"))] + [
        (name, name) for name in municipality_names()
    ]
    locale = select_locale()
    form.topic.choices = [("", _("no topic"))] + [(t.slug, t.name(locale)) for t in list_topics()]
    return form


def _prefilled(alert: Alert) -> AlertForm:
    return AlertForm(
        data={
            "headline": alert.headline,
            "text": alert.text,
            "severity": alert.severity.value,
            "municipalities": [ALL]
            if alert.all_municipalities
            else [m.name for m in alert.municipalities],
            "topic": alert.topic.slug if alert.topic else "",
            "starts_at": alert.starts_at,
            "expires_at": alert.expires_at,
            "url": alert.url or "",
            "headline_en": alert.headline_en or "",
            "text_en": alert.text_en or "",
        }
    )


def _may_override() -> bool:
    return auth.has_role(auth.current_user(), UserRole.ADMIN)


def _alert_in(form: AlertForm) -> AlertIn | None:
    """The form's data as the API's body, checked by the same schema; None with the errors
    on the form's fields."""
    chosen = list(form.municipalities.data or [])
    body = {
        "headline": form.headline.data,
        "text": form.text.data,
        "severity": form.severity.data,
        "municipalities": [ALL] if ALL in chosen else chosen,
        "topic": form.topic.data or None,
        "starts_at": form.starts_at.data,
        "expires_at": form.expires_at.data,
        "url": form.url.data or None,
        "headline_en": form.headline_en.data or None,
        "text_en": form.text_en.data or None,
    }
    try:
        return schemas.validate(AlertIn, body)
    except ValidationError as exc:
        _attach(form, exc)
        return None


def _attach(form: AlertForm, exc: NewsletterError) -> None:
    """An error from the schema or the service, on its field (or above the form)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    placed = False
    for name, message in details.items():
        if name in FORM_FIELDS:
            getattr(form, name).errors.append(_field_message(str(message)))
            placed = True
    if not placed:
        form.form_errors.append(_field_message(exc.message))


def _draft(
    form: AlertForm, alert_id: int | None, *, update: bool
) -> tuple[AlertIn, service.Draft] | None:
    """Validate everything as issuing would, writing nothing; None with errors on the form."""
    if not form.validate():
        return None
    if update and not form.note.data:
        form.note.errors.append(_("Say what changed: it goes out with the update."))
        return None
    data = _alert_in(form)
    if data is None:
        return None
    try:
        draft = service.check(
            data,
            alert_id=alert_id,
            may_override=_may_override(),
            override_reason=form.override_reason.data,
        )
    except NewsletterError as exc:
        db.session.rollback()
        _attach(form, exc)
        return None
    return data, draft


def _notice(data: AlertIn, draft: service.Draft, alert: Alert | None) -> AlertNotice:
    """The message as the channels will get it once released (nothing is stored)."""
    return AlertNotice(
        alert_id=alert.id if alert else 0,
        message_id=0,
        sequence=len(alert.messages) + 1 if alert else 1,
        msg_type=MessageType.UPDATE if alert else MessageType.ALERT,
        headline=data.headline,
        text=data.text,
        headline_en=data.headline_en,
        text_en=data.text_en,
        severity=data.severity,
        all_municipalities=draft.everywhere,
        municipality_ids=(),
        starts_at=draft.starts_at,
        expires_at=draft.expires_at,
        url=data.url,
        note=None,
        released_at=utcnow(),
    )


@contextmanager
def _page_language(locale: str) -> Iterator[None]:
    """Render as if the page were in ``locale`` (the public macros read ``current_locale``)."""
    if locale == select_locale():
        yield
        return
    previous = g.get("force_locale")
    g.force_locale = locale
    try:
        with force_locale(locale):
            yield
    finally:
        g.force_locale = previous


def _card(
    data: AlertIn, draft: service.Draft, notice: AlertNotice, alert: Alert | None, locale: str
) -> dict[str, Any]:
    """The alert as people will read it in ``locale``: the public page's own block (its
    macros, its styles) and the e-mail's own subject (``alerts.mail``)."""
    item = {
        "headline": data.headline,
        "headline_en": data.headline_en,
        "text": data.text,
        "text_en": data.text_en,
        "severity": data.severity.value,
        "all_municipalities": draft.everywhere,
        "municipalities": [{"name": name} for name in draft.municipalities],
        "starts_at": draft.starts_at,
        "expires_at": draft.expires_at,
        "topic": draft.topic,
        "url": data.url,
    }
    with _page_language(locale):
        html = render_template(
            "admin/_alert_public.html",
            item=item,
            identifier=alert.identifier if alert else None,
            lang=locale if locale != select_locale() else None,
        )
        subject = alert_mail.subject_of(notice, locale)
    return {"html": html, "subject": subject, "lang": locale}


def _cards(data: AlertIn, draft: service.Draft, alert: Alert | None) -> list[dict[str, Any]]:
    """The page's language first; English too when the alert has an English version."""
    notice = _notice(data, draft, alert)
    locale = select_locale()
    cards = [_card(data, draft, notice, alert, locale)]
    if (data.headline_en or data.text_en) and locale != "en":
        cards.append(_card(data, draft, notice, alert, "en"))
    return cards


def _form_page(form: AlertForm, alert: Alert | None, status: int) -> tuple[str, int]:
    return _render(
        "admin/alert_form.html",
        status,
        form=form,
        alert=alert,
        may_override=_may_override(),
        severities=list(AlertSeverity),
    )


def _compose(alert: Alert | None) -> tuple[str, int] | Response:
    """New alert or update, both steps: ``action`` = preview (the form's button), edit (back
    from the preview), issue (confirmed on the preview)."""
    form = _form(alert)
    if request.method == "GET":
        return _form_page(form, alert, 200)
    action = request.form.get("action", "preview")
    if action == "edit":
        return _form_page(form, alert, 200)
    checked = _draft(form, alert.id if alert else None, update=alert is not None)
    if checked is None:
        return _form_page(form, alert, 422)
    data, draft = checked
    if action != "issue":
        return _render(
            "admin/alert_preview.html",
            form=form,
            alert=alert,
            data=data,
            draft=draft,
            cards=_cards(data, draft, alert),
            hidden_fields=HIDDEN_FIELDS,
        )
    return _issue(form, alert, data)


def _issue(form: AlertForm, alert: Alert | None, data: AlertIn) -> tuple[str, int] | Response:
    actor = auth.current_actor()
    override = {"may_override": _may_override(), "override_reason": form.override_reason.data}

    def operation() -> AlertMessage:
        if alert is None:
            message = service.issue(data, actor=actor, **override)
        else:
            message = service.update(alert.id, data, actor=actor, note=form.note.data, **override)
        db.session.commit()
        return message

    message, error = attempt(operation)
    if message is None:
        form.form_errors.append(_field_message(error or ""))
        return _form_page(form, alert, 422)
    _flash_outcome(message)
    return redirect(url_for("admin.alert", id=message.alert_id))


def _flash_outcome(message: AlertMessage) -> None:
    identifier = message.alert.identifier
    if message.status is MessageStatus.AWAITING_APPROVAL:
        flash(
            _(
                "%(id)s is waiting for a second person's approval: nothing has been sent yet.",
                id=identifier,
            ),
            "info",
        )
    elif message.msg_type is MessageType.UPDATE:
        flash(_("Update of %(id)s sent.", id=identifier), "success")
    elif message.override_reason:
        flash(_("%(id)s sent; you released it alone (recorded).", id=identifier), "success")
    else:
        flash(_("%(id)s sent.", id=identifier), "success")


# --- pages ---------------------------------------------------------------------------------


@bp.get("/alerts")
@auth.require_role(EDITOR)
def alerts() -> tuple[str, int]:
    results = service.list_alerts(page_arg())
    waiting = service.waiting_alert_ids([a.id for a in results.items])
    return _render(
        "admin/alerts.html", results=results, waiting=waiting, awaiting=service.awaiting_count()
    )


@bp.route("/alerts/new", methods=["GET", "POST"])
@auth.require_role(EDITOR)
def new_alert() -> tuple[str, int] | Response:
    return _compose(None)


@bp.get("/alerts/<int:id>")
@auth.require_role(EDITOR)
def alert(id: int) -> tuple[str, int]:
    found = service.get_alert(id)
    return _render(
        "admin/alert.html",
        alert=found,
        names=service.municipality_names(),
        message_area=service.message_area_names,
        waiting=any(m.status is MessageStatus.AWAITING_APPROVAL for m in found.messages),
    )


@bp.route("/alerts/<int:id>/update", methods=["GET", "POST"])
@auth.require_role(EDITOR)
def update_alert(id: int) -> tuple[str, int] | Response:
    found = service.get_alert(id)
    if found.state is not AlertState.PUBLISHED:
        flash(_("Only an alert in force can be updated."), "error")
        return redirect(url_for("admin.alert", id=id))
    return _compose(found)


@bp.post("/alerts/<int:id>/cancel")
@auth.require_role(EDITOR)
def cancel_alert(id: int) -> Response:
    found = service.get_alert(id)
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        flash(_("Say why the alert is cancelled: the reason goes out with it."), "error")
        return redirect(url_for("admin.alert", id=id))
    pending = found.state is AlertState.PENDING

    def operation() -> bool:
        service.cancel(id, actor=auth.current_actor(), note=reason)
        db.session.commit()
        return True

    done, _error = attempt(operation, _l("Not cancelled: %(error)s"))
    if done:
        if pending:
            flash(_("%(id)s withdrawn: nothing had been sent.", id=found.identifier), "success")
        else:
            flash(_("Cancellation of %(id)s sent.", id=found.identifier), "success")
    return redirect(url_for("admin.alert", id=id))


@bp.get("/alerts/approvals")
@auth.require_role(EDITOR)
def alert_approvals() -> tuple[str, int]:
    messages = service.awaiting_approval()
    actor = auth.current_actor()
    return _render(
        "admin/alert_approvals.html",
        messages=messages,
        mine={m.id for m in messages if service.same_person(m, actor)},
        may_override=_may_override(),
        max_reason=MAX_NOTE,
        names=service.municipality_names(),
        topic_names=_topic_names(),
        message_area=service.message_area_names,
    )


def _topic_names() -> dict[int, str]:
    locale = select_locale()
    return {t.id: t.name(locale) for t in list_topics()}


def _decide(id: int, decision: Callable[[], AlertMessage], done: str) -> Response:
    message, _error = attempt(decision, _l("Not done: %(error)s"))
    if message is not None:
        db.session.commit()
        flash(done % {"id": message.alert.identifier}, "success")
    target = auth.safe_next(request.form.get("next"))
    return redirect(target or url_for("admin.alert_approvals"))


@bp.post("/alerts/messages/<int:id>/approve")
@auth.require_role(EDITOR)
def approve_alert_message(id: int) -> Response:
    message = service.get_message(id)
    actor = auth.current_actor()
    if service.same_person(message, actor):
        flash(
            _(
                "You issued this message: a second person must approve it. "
                "Ask a colleague with access to the admin area."
            ),
            "error",
        )
        return redirect(url_for("admin.alert_approvals"))
    return _decide(
        id, lambda: service.approve(id, actor=actor), _("Approved: %(id)s is being sent.")
    )


@bp.post("/alerts/messages/<int:id>/release")
@auth.require_role(ADMIN)
def release_alert_message(id: int) -> Response:
    """An administrator sends their own waiting message alone, with a reason (audited)."""
    reason = (request.form.get("override_reason") or "").strip()
    if not reason:
        flash(_("Say why it cannot wait for a second person: the log keeps it."), "error")
        return redirect(url_for("admin.alert_approvals"))
    return _decide(
        id,
        lambda: service.release_alone(
            id, actor=auth.current_actor(), reason=reason, may_override=_may_override()
        ),
        _("Sent without a second approval: %(id)s is being sent."),
    )


@bp.post("/alerts/messages/<int:id>/reject")
@auth.require_role(EDITOR)
def reject_alert_message(id: int) -> Response:
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        flash(_("Say why you reject it: the issuer reads the reason."), "error")
        return redirect(url_for("admin.alert_approvals"))
    return _decide(
        id,
        lambda: service.reject(id, actor=auth.current_actor(), reason=reason),
        _("Rejected: that message of %(id)s was not sent."),
    )
