"""The e-mailed unlock link: lets a locked-out account's owner sign in despite the lock.

Anyone who knows an address of the team can lock its account by failing logins on purpose.
The lock stays (it stops password guessing), and when it starts its owner is sent a link; the
browser that opens it may sign in with the right password while the lock lasts. The link is
signed (no table), valid for ``ADMIN_UNLOCK_LINK_MAX_AGE`` seconds and only until the account's
next logout or password change; at most one such mail per account per hour, however often
someone locks it. It goes through the outbox as a service mail, like every other mail.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, session
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from newsletter.admin.models import User
from newsletter.db import utcnow
from newsletter.delivery import outbox
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.extensions import db
from newsletter.hooks import ServiceMail
from newsletter.signing import secret_keys

log = logging.getLogger(__name__)

SALT = "newsletter.admin-unlock"
SESSION_KEY = "admin_unlock"
MAIL_INTERVAL = timedelta(hours=1)


def _serializer() -> URLSafeTimedSerializer:
    """Signed with the current key; links signed with an older key (fallbacks) still open."""
    return URLSafeTimedSerializer(secret_keys(current_app.config), salt=SALT)


def make_token(user: User) -> str:
    return str(_serializer().dumps({"u": user.id, "v": user.session_version}))


def read_token(token: str) -> User | None:
    """The account the link was made for, while it is valid; None otherwise."""
    max_age = int(current_app.config["ADMIN_UNLOCK_LINK_MAX_AGE"])
    try:
        data: Any = _serializer().loads(token, max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.active or data.get("v") != user.session_version:
        return None
    return user


def queue_unlock_mail(user: User, now: datetime) -> Delivery | None:
    """An outbox row for the sender; none when one was queued for the account in the last hour.
    The link itself is made when the mail is rendered, so the database never holds it."""
    recent = db.session.scalar(
        sa.select(sa.func.count(Delivery.id)).where(
            Delivery.kind == DeliveryKind.UNLOCK,
            Delivery.to_address == user.email,
            Delivery.created_at > now - MAIL_INTERVAL,
        )
    )
    if recent:
        return None
    delivery = outbox.enqueue(
        DeliveryKind.UNLOCK, to_address=user.email, payload={"user_id": user.id}, due=now
    )
    log.warning("admin account %s locked after failed logins; unlock link queued", user.id)
    return delivery


def render_unlock_mail(delivery: Delivery) -> ServiceMail | None:
    """The service-mail renderer for kind "unlock"; None drops a row whose account is gone."""
    from markupsafe import escape

    user_id = (delivery.payload or {}).get("user_id")
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or user.email != delivery.to_address:
        return None
    link = f"{current_app.config['BASE_URL'].rstrip('/')}/admin/unlock/{make_token(user)}"
    minutes = int(current_app.config["ADMIN_UNLOCK_LINK_MAX_AGE"]) // 60
    with force_locale(str(current_app.config.get("DEFAULT_LOCALE") or "it")):
        subject = _("Your admin account was locked")
        lines = [
            _(
                "Someone failed to sign in to your account of the newsletter's admin area "
                "several times, so it is locked for a while."
            ),
            _(
                "If it was you, or if you need to get in now, open this link: in that browser "
                "you can sign in with your password despite the lock. It works for "
                "%(minutes)d minutes.",
                minutes=minutes,
            ),
            _("If it was not you, nobody got in; consider changing your password."),
        ]
    text = "\n\n".join([*lines[:2], link, lines[2]]) + "\n"
    html = (
        "".join(f"<p>{escape(line)}</p>" for line in lines[:2])
        + f'<p><a href="{escape(link)}">{escape(link)}</a></p>'
        + f"<p>{escape(lines[2])}</p>"
    )
    return ServiceMail(to=user.email, subject=subject, text=text, html=html)


def exempt_this_browser(user: User) -> None:
    """The browser that opened the link may sign in to that account despite the lock."""
    until = utcnow() + timedelta(seconds=int(current_app.config["ADMIN_UNLOCK_LINK_MAX_AGE"]))
    session[SESSION_KEY] = {"u": user.id, "until": until.timestamp()}


def exempt_user_id() -> int | None:
    found = session.get(SESSION_KEY)
    if not isinstance(found, dict) or not isinstance(found.get("u"), int):
        return None
    if float(found.get("until") or 0) < utcnow().timestamp():
        return None
    return int(found["u"])
