"""The public forms: raw posted fields in, a validated request or per-field errors out.

Plain functions rather than WTForms classes: the templates need the submitted values back and
one message per field in the page's language, nothing more. CSRF is checked by CSRFProtect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from newsletter.reference.names import name_key
from newsletter.subscriptions import rules
from newsletter.subscriptions.models import MAX_EMAIL_LENGTH, normalize_email
from newsletter.subscriptions.service import Preferences, SubscribeRequest
from newsletter.vocabulary import Frequency, Locale


@dataclass
class FormState:
    """What the template shows again: the values as submitted and the errors by field."""

    email: str = ""
    topics: tuple[str, ...] = ()
    frequency: str = Frequency.WEEKLY.value
    locale: str = Locale.IT.value
    municipality: str = ""  # a slug of the table, or "" for none
    local_news: bool = False
    alerts: bool = False  # urgent alerts for the comune: needs one
    consent: bool = False
    errors: dict[str, str] = field(default_factory=dict)


def _topics(form: MultiDict[str, str], known: set[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in form.getlist("topics") if t in known))


_TRUE = {"1", "on", "yes", "true"}


def _municipality(
    form: MultiDict[str, str], known: Mapping[str, str], state: FormState, errors: dict[str, str]
) -> None:
    """``known`` maps each comune's slug to its name; the select posts a slug (a name is
    accepted too, any spelling), and an unknown value is an error naming it."""
    raw = (form.get("municipality") or "").strip()
    state.local_news = form.get("local_news") in _TRUE
    state.alerts = form.get("alerts") in _TRUE
    if not raw:
        if state.alerts:
            # Ticked and kept, so that choosing a comune is the whole fix.
            errors["alerts"] = _(
                "Urgent alerts are for a comune: choose yours above, or untick the box."
            )
        return
    if raw in known:
        state.municipality = raw
        return
    by_name = {name_key(name): slug for slug, name in known.items()}
    if name_key(raw) in by_name:
        state.municipality = by_name[name_key(raw)]
        return
    errors["municipality"] = _("%(name)s is not one of the 48 comuni of the area.", name=raw)


def _choice_error(state: FormState, errors: dict[str, str], preferences: bool) -> None:
    """``rules.has_choice``: a topic, or the comune's news, or its urgent alerts alone."""
    if rules.has_choice(
        state.topics,
        municipality=bool(state.municipality),
        local_news=state.local_news,
        alerts=state.alerts,
    ):
        return
    if "municipality" in errors or "alerts" in errors:
        return  # the comune is what is wrong: said on its own field
    if preferences:
        errors["topics"] = _(
            "Choose at least one topic, or your comune with all its news or its urgent "
            "alerts. To stop receiving anything from us, unsubscribe below."
        )
    else:
        errors["topics"] = _(
            "Choose at least one topic, or your comune with all its news or its urgent alerts."
        )


def _frequency(raw: str | None, errors: dict[str, str]) -> str:
    if Frequency.knows(raw):
        return str(raw)
    errors["frequency"] = _("Choose how often you want to hear from us.")
    return Frequency.WEEKLY.value


def _locale(raw: str | None, fallback: str, errors: dict[str, str]) -> str:
    if Locale.knows(raw):
        return str(raw)
    errors["locale"] = _("Choose the language of the e-mails.")
    return fallback


def check_email(raw: str) -> str | None:
    """An error message for the address, or None when it is well formed (no DNS look-up)."""
    if not raw:
        return str(_("Enter your e-mail address."))
    if len(raw) > MAX_EMAIL_LENGTH:  # the validator's time grows with the length: not at all
        return str(_("Enter an e-mail address in the form name@example.com."))
    try:
        validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        return str(_("Enter an e-mail address in the form name@example.com."))
    return None


def read_subscribe(
    form: MultiDict[str, str],
    known_topics: set[str],
    page_locale: str,
    municipalities: Mapping[str, str] | None = None,
) -> tuple[FormState, SubscribeRequest | None]:
    errors: dict[str, str] = {}
    email = (form.get("email") or "").strip()
    state = FormState(
        email=email,
        topics=_topics(form, known_topics),
        consent=form.get("consent") in _TRUE,
    )
    email_error = check_email(email)
    if email_error:
        errors["email"] = email_error
    _municipality(form, municipalities or {}, state, errors)
    _choice_error(state, errors, preferences=False)
    state.frequency = _frequency(form.get("frequency"), errors)
    state.locale = _locale(form.get("locale") or page_locale, page_locale, errors)
    if not state.consent:
        errors["consent"] = _("To subscribe, tick the box to say you have read the privacy notice.")
    state.errors = errors
    if errors:
        return state, None
    return state, SubscribeRequest(
        email=normalize_email(email),
        topics=state.topics,
        frequency=Frequency(state.frequency),
        locale=state.locale,
        municipality=state.municipality or None,
        local_news=state.local_news and bool(state.municipality),
        alerts=state.alerts,
    )


def read_preferences(
    form: MultiDict[str, str],
    known_topics: set[str],
    current: Mapping[str, str],
    municipalities: Mapping[str, str] | None = None,
) -> tuple[FormState, Preferences | None]:
    errors: dict[str, str] = {}
    state = FormState(topics=_topics(form, known_topics))
    _municipality(form, municipalities or {}, state, errors)
    _choice_error(state, errors, preferences=True)
    state.frequency = _frequency(form.get("frequency"), errors)
    state.locale = _locale(form.get("locale"), current["locale"], errors)
    state.errors = errors
    if errors:
        return state, None
    return state, Preferences(
        topics=state.topics,
        frequency=Frequency(state.frequency),
        locale=state.locale,
        municipality=state.municipality or None,
        local_news=state.local_news and bool(state.municipality),
        alerts=state.alerts,
    )
