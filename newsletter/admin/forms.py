"""Admin forms (Flask-WTF: every POST carries the CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    # Only for accounts with two-factor login; everyone else leaves it empty.
    code = StringField(
        _l("Code from the authenticator app"), validators=[Optional(), Length(max=12)]
    )
    next = HiddenField()


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes state: nothing but the CSRF token."""
