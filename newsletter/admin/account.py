"""The signed-in person's own account: password change, two-factor login; the unlock link.

Routes of the admin blueprint, kept out of ``views.py`` (they are about the account, not the
newsletter).
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from newsletter import audit
from newsletter.admin import auth, twofactor, unlock
from newsletter.admin.models import User, UserRole
from newsletter.admin.views import bp
from newsletter.audit import Actor
from newsletter.db import utcnow
from newsletter.exceptions import NewsletterError, ValidationError
from newsletter.extensions import db

PENDING_KEY = "admin_totp_pending"


def _me() -> User:
    user = auth.current_user()
    assert user is not None  # behind require_role
    return user


def _page(status: int = 200, enrol: dict[str, str] | None = None) -> tuple[str, int]:
    user = _me()
    return render_template(
        "admin/account.html",
        user=user,
        enrol=enrol,
        must_enrol=auth.needs_second_factor(user),
        can_disable=not (
            current_app.config.get("ADMIN_REQUIRE_TOTP") and user.role == UserRole.ADMIN
        ),
        min_length=int(current_app.config["ADMIN_PASSWORD_MIN_LENGTH"]),
    ), status


@bp.get("/account")
@auth.require_role(UserRole.EDITOR)
def account() -> tuple[str, int]:
    session.pop(PENDING_KEY, None)  # a secret is shown once; reloading starts again
    return _page()


@bp.post("/account/password")
@auth.require_role(UserRole.EDITOR)
def change_password() -> tuple[str, int] | Response:
    user = _me()
    new = request.form.get("new_password", "")
    try:
        if new != request.form.get("new_password_again", ""):
            raise ValidationError("the two new passwords differ")
        auth.change_password(user, request.form.get("current_password", ""), new)
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Password not changed: %(error)s", error=exc.message), "error")
        return _page(422)
    audit.record(Actor.of_user(user), "user.password_change", f"user:{user.id}")
    db.session.commit()
    auth.login_user(user)  # this browser stays signed in; every other session has ended
    flash(
        _("Password changed. Other browsers signed in to this account are signed out."),
        "success",
    )
    return redirect(url_for("admin.account"))


@bp.post("/account/totp")
@auth.require_role(UserRole.EDITOR)
def totp_start() -> tuple[str, int]:
    """A new secret, shown in this response only (QR code and text), kept in the session
    until a code from the app proves it was saved."""
    user = _me()
    secret = twofactor.new_secret()
    session[PENDING_KEY] = secret
    uri = twofactor.provisioning_uri(user.email, secret)
    return _page(enrol={"secret": secret, "qr": twofactor.qr_svg(uri)})


@bp.post("/account/totp/confirm")
@auth.require_role(UserRole.EDITOR)
def totp_confirm() -> tuple[str, int] | Response:
    user = _me()
    secret = session.get(PENDING_KEY)
    if not isinstance(secret, str):
        flash(_("Start the set-up again: the secret is shown only once."), "error")
        return redirect(url_for("admin.account"))
    try:
        twofactor.enable(user, secret, request.form.get("code", ""), utcnow())
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Two-factor login not enabled: %(error)s", error=exc.message), "error")
        uri = twofactor.provisioning_uri(user.email, secret)
        return _page(422, enrol={"secret": secret, "qr": twofactor.qr_svg(uri)})
    session.pop(PENDING_KEY, None)
    audit.record(Actor.of_user(user), "user.totp_enable", f"user:{user.id}")
    db.session.commit()
    flash(_("Two-factor login is on: from now on, sign in with a code from the app."), "success")
    return redirect(url_for("admin.dashboard"))


@bp.post("/account/totp/disable")
@auth.require_role(UserRole.EDITOR)
def totp_disable() -> tuple[str, int] | Response:
    user = _me()
    try:
        if current_app.config.get("ADMIN_REQUIRE_TOTP") and user.role == UserRole.ADMIN:
            raise ValidationError("administrators must keep two-factor login")
        auth.check_current_password(user, request.form.get("current_password", ""))
    except ValidationError as exc:
        flash(_("Two-factor login not turned off: %(error)s", error=exc.message), "error")
        return _page(422)
    twofactor.disable(user)
    audit.record(Actor.of_user(user), "user.totp_disable", f"user:{user.id}")
    db.session.commit()
    auth.login_user(user)
    flash(_("Two-factor login is off."), "success")
    return redirect(url_for("admin.account"))


@bp.get("/unlock/<token>")
def unlock_link(token: str) -> Response:
    """The link of the unlock mail: this browser may sign in despite the lock."""
    user = unlock.read_token(token)
    if user is None:
        flash(_("This unlock link is not valid (any more)."), "error")
        return redirect(url_for("admin.login"))
    unlock.exempt_this_browser(user)
    audit.record(Actor.of_user(user), "user.unlock_link", f"user:{user.id}")
    db.session.commit()
    flash(_("Sign in with your password: the lock does not apply to this browser."), "info")
    return redirect(url_for("admin.login"))
