"""Admin forms (Flask-WTF: every POST carries the CSRF token).

The sign-in form is the exception: before sign-in there is no session, and Flask-WTF's token
would create one (a cookie) just for showing the form. It is guarded like the public forms, by
``newsletter.formguard``; the session starts when the sign-in succeeds."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from newsletter.alerts.models import MAX_HEADLINE, MAX_NOTE, MAX_TEXT, MAX_URL


class LoginForm(FlaskForm):  # type: ignore[misc]
    class Meta:
        csrf = False  # formguard's token instead (see the module's docstring)

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    # Only for accounts with two-factor login; everyone else leaves it empty.
    code = StringField(
        _l("Code from the authenticator app"), validators=[Optional(), Length(max=12)]
    )
    next = HiddenField()


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes state: nothing but the CSRF token."""


# --- urgent alerts -------------------------------------------------------------------------

LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _local_zone() -> ZoneInfo:
    """The wall clock editors type in (Europe/Rome): the form hands back aware times."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def _one_line(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _lines(value: object) -> object:
    """Browsers send CRLF from a textarea: one character per line break, as people count."""
    if not isinstance(value, str):
        return value
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


class AlertForm(FlaskForm):  # type: ignore[misc]
    """The admin side of ``AlertIn`` (the service checks it again, as for the API), with the
    administrator's override reason and, for an update, what changed. Choices of comuni,
    severity and topic are set by the view (they are names from tables and words in the
    page's language)."""

    headline = StringField(
        _l("Headline"), filters=[_one_line], validators=[DataRequired(), Length(max=MAX_HEADLINE)]
    )
    text = TextAreaField(
        _l("Text"), filters=[_lines], validators=[DataRequired(), Length(max=MAX_TEXT)]
    )
    severity = SelectField(_l("Severity"), validators=[DataRequired()])
    municipalities = SelectMultipleField(_l("Comuni concerned"))
    topic = SelectField(_l("Topic (optional)"), default="")
    starts_at = DateTimeLocalField(
        _l("Starts (optional; empty: now)"),
        format=LOCAL_FORMATS,
        tz=_local_zone,
        validators=[Optional()],
    )
    expires_at = DateTimeLocalField(
        _l("Ends"), format=LOCAL_FORMATS, tz=_local_zone, validators=[InputRequired()]
    )
    url = StringField(
        _l("Link with more information (optional)"),
        filters=[_one_line],
        validators=[Optional(), Length(max=MAX_URL)],
    )
    headline_en = StringField(
        _l("Headline in English (optional)"),
        filters=[_one_line],
        validators=[Optional(), Length(max=MAX_HEADLINE)],
    )
    text_en = TextAreaField(
        _l("Text in English (optional)"),
        filters=[_lines],
        validators=[Optional(), Length(max=MAX_TEXT)],
    )
    override_reason = TextAreaField(
        _l("I release it alone because…"),
        filters=[_lines],
        validators=[Optional(), Length(max=MAX_NOTE)],
    )
    note = TextAreaField(
        _l("What changed"), filters=[_lines], validators=[Optional(), Length(max=MAX_NOTE)]
    )

    def validate_municipalities(self, field: SelectMultipleField) -> None:
        if not field.data:
            raise ValidationError(_l("Choose at least one comune, or all of them."))
