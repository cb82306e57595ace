"""An alert message's e-mail: subject, preheader, HTML (Jinja2 -> MJML -> HTML) and text.

Rendered once per language for everyone (``delivery`` stores it as an ``AlertRendition``); a
recipient's own links are the literal placeholders of ``newsletter.mailparts``, which the
sender replaces per recipient. The mail says in words what it is ("Avviso", "Aggiornamento
dell'avviso AOC-12", "Revoca dell'avviso AOC-12") and how serious ("gravità: grave"); the
colour of its band only repeats it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_datetime
from mjml import mjml2html

from newsletter import mailparts
from newsletter.alerts.models import AlertNotice, MessageType
from newsletter.alerts.words import severity_word
from newsletter.i18n import catalogue, mail_templates
from newsletter.vocabulary import AlertSeverity

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
CATALOGUES = Path(__file__).resolve().parent / "translations"

#: The band's colour per severity (white text on it: contrast 5:1 or more); a cancellation
#: is grey, whatever it withdraws.
BAND = {
    AlertSeverity.MINOR: "#0066cc",
    AlertSeverity.MODERATE: "#995c00",
    AlertSeverity.SEVERE: "#cc334d",
    AlertSeverity.EXTREME: "#7a0019",
}
CANCELLED_BAND = "#3c4a57"


@dataclass(frozen=True)
class RenderedAlert:
    subject: str
    preheader: str
    html: str
    text: str


def _environment(templates_dir: str, locale: str, html: bool) -> jinja2.Environment:
    return mail_templates(templates_dir, str(CATALOGUES), locale, html)


def local_moment(value: datetime, locale: str, timezone: str) -> str:
    """``30 novembre 2026, 14:00`` / ``30 November 2026, 14:00`` on the wall clock of Rome."""
    return format_datetime(value, "d MMMM y, HH:mm", tzinfo=ZoneInfo(timezone), locale=locale)


def status_line(notice: AlertNotice, locale: str) -> str:
    """What kind of message this is and how serious, in words: the mail's first line."""
    t = catalogue(CATALOGUES, locale)
    number = notice.identifier
    if notice.msg_type is MessageType.CANCEL:
        return t.gettext("Cancellation of alert %(id)s") % {"id": number}
    severity = severity_word(notice.severity, locale)
    if notice.msg_type is MessageType.UPDATE:
        return t.gettext("Update to alert %(id)s — severity: %(severity)s") % {
            "id": number,
            "severity": severity,
        }
    return t.gettext("Alert — severity: %(severity)s") % {"severity": severity}


def subject_of(notice: AlertNotice, locale: str) -> str:
    t = catalogue(CATALOGUES, locale)
    headline = notice.headline_in(locale)
    if notice.msg_type is MessageType.CANCEL:
        lead = t.gettext("Cancellation of alert %(id)s") % {"id": notice.identifier}
    elif notice.msg_type is MessageType.UPDATE:
        lead = t.gettext("Update to alert %(id)s") % {"id": notice.identifier}
    else:
        lead = t.gettext("Alert — severity: %(severity)s") % {
            "severity": severity_word(notice.severity, locale)
        }
    return f"{lead} · {headline}"


def _area(everywhere: bool, municipalities: Sequence[str], locale: str) -> str:
    t = catalogue(CATALOGUES, locale)
    if everywhere:
        return t.gettext("every municipality of the Area Omogenea Cremasca")
    return ", ".join(municipalities)


def context(
    notice: AlertNotice,
    locale: str,
    *,
    everywhere: bool,
    municipalities: Sequence[str],
    original_at: datetime | None,
    base_url: str,
    timezone: str,
) -> dict[str, Any]:
    """What both templates show: the same facts in the text and the HTML part."""
    t = catalogue(CATALOGUES, locale)
    status = status_line(notice, locale)
    subject = subject_of(notice, locale)
    area = _area(everywhere, municipalities, locale)
    expires = local_moment(notice.expires_at, locale, timezone)
    reference = None
    if notice.msg_type is not MessageType.ALERT:
        values = {
            "id": notice.identifier,
            "date": local_moment(original_at or notice.released_at, locale, timezone),
        }
        reference = (
            t.gettext("Alert %(id)s of %(date)s is withdrawn: it is no longer in force.")
            if notice.msg_type is MessageType.CANCEL
            else t.gettext("This message updates alert %(id)s of %(date)s.")
        ) % values
    preheader = f"{status} · {area}"
    if notice.msg_type is not MessageType.CANCEL:
        preheader += " · " + t.gettext("expires %(date)s") % {"date": expires}
    cancelled = notice.msg_type is MessageType.CANCEL
    return {
        "locale": locale,
        "subject": subject,
        "preheader": preheader[:300],
        "status": status,
        "cancelled": cancelled,
        "band": CANCELLED_BAND if cancelled else BAND[notice.severity],
        "headline": notice.headline_in(locale),
        "paragraphs": [p.strip() for p in notice.text_in(locale).split("\n") if p.strip()],
        "reference": reference,
        "note": notice.note if notice.msg_type is not MessageType.ALERT else None,
        "note_label": t.gettext("Reason:") if cancelled else t.gettext("What changed:"),
        "area": area,
        "one_comune": not everywhere and len(municipalities) == 1,
        "starts": local_moment(notice.starts_at, locale, timezone),
        "expires": expires,
        "url": notice.url,
        "page_url": f"{base_url.rstrip('/')}/avvisi/{notice.alert_id}",
        "identifier": notice.identifier,
        "base_url": base_url.rstrip("/"),
        "unsubscribe_url": mailparts.UNSUBSCRIBE_URL,
        "preferences_url": mailparts.PREFERENCES_URL,
    }


def render(
    notice: AlertNotice,
    locale: str,
    *,
    everywhere: bool,
    municipalities: Sequence[str],
    original_at: datetime | None,
    base_url: str,
    timezone: str = "Europe/Rome",
    templates_dir: Path = TEMPLATES_DIR,
) -> RenderedAlert:
    """The message in one language, with the per-recipient placeholders."""
    values = context(
        notice,
        locale,
        everywhere=everywhere,
        municipalities=municipalities,
        original_at=original_at,
        base_url=base_url,
        timezone=timezone,
    )
    source = _environment(str(templates_dir), locale, True).get_template("alerts/alert.mjml")
    mjml = source.render(values)
    html = mjml2html(mjml[mjml.index("<mjml") :], disable_comments=True)
    text = _environment(str(templates_dir), locale, False).get_template("alerts/alert.txt")
    return RenderedAlert(
        subject=values["subject"],
        preheader=values["preheader"],
        html=html,
        text=text.render(values).strip() + "\n",
    )
