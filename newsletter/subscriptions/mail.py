"""The service e-mails of subscriptions: the confirmation link and the preferences link.

They are written to the outbox by ``service``; the sender calls these renderers at send time,
so the link is signed then and the text is in the subscriber's language.
"""

from __future__ import annotations

from collections.abc import Callable

import jinja2
from flask import current_app
from flask_babel import force_locale, gettext

from newsletter.delivery.models import Delivery
from newsletter.extensions import db
from newsletter.hooks import ServiceMail
from newsletter.subscriptions.links import personal_url_for
from newsletter.subscriptions.models import Subscriber, SubscriberStatus
from newsletter.subscriptions.tokens import Purpose


def _environment() -> jinja2.Environment:
    """The app's Jinja environment (with its gettext) reading the e-mail template folder."""
    cache = current_app.extensions.get("newsletter.subscriptions.mail_env")
    if cache is None:
        loader = jinja2.FileSystemLoader(current_app.config["EMAIL_TEMPLATES_DIR"])
        cache = current_app.jinja_env.overlay(loader=loader)
        current_app.extensions["newsletter.subscriptions.mail_env"] = cache
    return cache


def _asked(subscriber: Subscriber, topics: list[str]) -> list[str]:
    """What the confirmation says was asked for, in the subscriber's language: the topics,
    or the comune's news, or its urgent alerts alone (no empty "on these topics: .")."""
    comune = subscriber.municipality.name if subscriber.municipality is not None else None
    if topics or comune is None:
        first = gettext(
            "someone, hopefully you, asked to receive the Area Omogenea Cremasca newsletter at "
            "this address, on these topics: %(topics)s.",
            topics=", ".join(topics),
        )
    elif subscriber.local_news:
        first = gettext(
            "someone, hopefully you, asked to receive the Area Omogenea Cremasca newsletter at "
            "this address, with every article about %(name)s.",
            name=comune,
        )
    else:
        return [
            gettext(
                "someone, hopefully you, asked to receive at this address the urgent alerts for "
                "%(name)s of the Area Omogenea Cremasca, by e-mail as soon as they are issued, "
                "and no newsletter.",
                name=comune,
            )
        ]
    if subscriber.alerts and comune is not None:
        return [
            first,
            gettext(
                "Also the urgent alerts for %(name)s, as soon as they are issued.", name=comune
            ),
        ]
    return [first]


def _render(name: str, subscriber: Subscriber, subject: str, url: str) -> ServiceMail:
    env = _environment()
    topics = [
        link.topic.name(subscriber.locale)
        for link in sorted(
            subscriber.subscriptions, key=lambda link: (link.topic.position, link.topic.slug)
        )
    ]
    context = {
        "subject": subject,
        "url": url,
        "subscriber": subscriber,
        "topics": topics,
        "asked": _asked(subscriber, topics),
        "locale": subscriber.locale,
        "base_url": current_app.config["BASE_URL"],
        "privacy_url": current_app.config["BASE_URL"] + "/privacy",
        "days": max(1, int(current_app.config["CONFIRM_TOKEN_MAX_AGE"]) // 86400),
        "ttl": int(current_app.config["PENDING_TTL_DAYS"]),
    }
    text = env.get_template(f"subscriptions/{name}.txt").render(context)
    html = env.get_template(f"subscriptions/{name}.html").render(context)
    return ServiceMail(to=subscriber.email, subject=subject, text=text, html=html)


def _subscriber(delivery: Delivery) -> Subscriber | None:
    if delivery.subscriber_id is None:
        return None
    return db.session.get(Subscriber, delivery.subscriber_id)


def _render_for(
    delivery: Delivery,
    status: SubscriberStatus,
    purpose: Purpose,
    name: str,
    subject: Callable[[], str],
) -> ServiceMail | None:
    """The mail ``name`` with a ``purpose`` link, in the subscriber's language, while the
    subscriber still exists and is in ``status`` (a mail queued earlier may be moot by now)."""
    subscriber = _subscriber(delivery)
    if subscriber is None or subscriber.status is not status:
        return None
    with force_locale(subscriber.locale):
        return _render(name, subscriber, subject(), personal_url_for(purpose, subscriber))


def render_confirm(delivery: Delivery) -> ServiceMail | None:
    """The double opt-in link; None once the subscriber is gone or no longer pending."""
    return _render_for(
        delivery,
        SubscriberStatus.PENDING,
        Purpose.CONFIRM,
        "confirm",
        lambda: gettext("Confirm your subscription to the Area Omogenea Cremasca newsletter"),
    )


def render_preferences(delivery: Delivery) -> ServiceMail | None:
    """For an active address submitted again: its preferences link, nothing changed."""
    return _render_for(
        delivery,
        SubscriberStatus.ACTIVE,
        Purpose.PREFERENCES,
        "preferences",
        lambda: gettext("Your Area Omogenea Cremasca newsletter subscription"),
    )
