"""Admin forms (Flask-WTF: every POST carries the CSRF token).

The sign-in form is the exception: before sign-in there is no session, and Flask-WTF's token
would create one (a cookie) just for showing the form. It is guarded like the public forms, by
``newsletter.formguard``; the session starts when the sign-in succeeds."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional


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
