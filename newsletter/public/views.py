"""Public pages. Views translate HTTP to service calls and back, nothing more."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from newsletter import formguard
from newsletter.exceptions import ExpiredToken, InvalidToken, NotFound
from newsletter.extensions import csrf, limiter
from newsletter.i18n import SUPPORTED, select_locale
from newsletter.public import service
from newsletter.reference.service import municipality_by_slug
from newsletter.subscriptions import forms
from newsletter.subscriptions import service as subscriptions
from newsletter.subscriptions.links import personal_url_for
from newsletter.subscriptions.models import Subscriber, SubscriberStatus
from newsletter.subscriptions.tokens import Purpose, subscriber_for

bp = Blueprint("public", __name__)


Page = str | tuple[str, int] | BaseResponse
LinkView = Callable[[Subscriber, str], Page]


def _form_context(state: forms.FormState | None = None) -> dict[str, Any]:
    return {
        "topics": service.topics(),
        "municipalities": service.municipalities(),
        "form": state or forms.FormState(locale=select_locale()),
        "honeypot": current_app.config["SUBSCRIBE_HONEYPOT_FIELD"],
        "notice_version": current_app.config["PRIVACY_NOTICE_VERSION"],
    }


@bp.get("/")
def home() -> str:
    content = service.home_content(int(current_app.config["PUBLIC_LATEST_ARTICLES"]))
    return render_template(
        "public/home.html", latest=content.latest, alerts=content.alerts, **_form_context()
    )


@bp.get("/topics/<slug>")
def topic(slug: str) -> Page:
    try:
        content = service.topic_content(slug, int(current_app.config["TOPIC_PAGE_ARTICLES"]))
    except NotFound:
        return render_template("error.html", status=404, message=None), 404
    return render_template("public/topic.html", topic=content.topic, articles=content.articles)


@bp.get("/comuni")
def comuni() -> str:
    days = int(current_app.config["COMUNI_RECENT_DAYS"])
    return render_template(
        "public/comuni.html", comuni=service.comuni_overview(days), recent_days=days
    )


@bp.get("/comuni/<slug>")
def comune(slug: str) -> Page:
    """A comune's articles, ``?topic=`` to keep one topic; a former slug redirects for good."""
    topic = request.args.get("topic") or None
    try:
        content = service.comune_content(
            slug, topic, int(current_app.config["TOPIC_PAGE_ARTICLES"])
        )
    except NotFound:
        try:
            municipality, renamed = municipality_by_slug(slug)
        except NotFound:
            return render_template("error.html", status=404, message=None), 404
        if not renamed:  # a known comune and an unknown topic
            return render_template("error.html", status=404, message=None), 404
        return redirect(url_for("public.comune", slug=municipality.slug, topic=topic), 301)
    state = forms.FormState(locale=select_locale(), municipality=content.municipality.slug)
    return render_template("public/comune.html", content=content, **_form_context(state))


@bp.get("/subscribe")
def subscribe_form() -> str:
    """``?topics=energy`` (from a topic page) ticks that topic in advance, and
    ``?municipality=offanengo`` (from a comune's page) chooses that comune."""
    known = service.known_topic_slugs()
    comuni = service.municipality_choices()
    wanted_comune = request.args.get("municipality", "")
    state = forms.FormState(
        locale=select_locale(),
        topics=tuple(t for t in request.args.getlist("topics") if t in known),
        municipality=wanted_comune if wanted_comune in comuni else "",
    )
    return render_template("public/subscribe.html", **_form_context(state))


def _read_subscribe() -> tuple[forms.FormState, subscriptions.SubscribeRequest | None]:
    return forms.read_subscribe(
        request.form, service.known_topic_slugs(), select_locale(), service.municipality_choices()
    )


def _subscribe_again(reason: str) -> Page:
    """A refused form (expired token) comes back as typed, with a fresh token: nothing is lost."""
    state, _wanted = _read_subscribe()
    state.errors = {"form": formguard.explanation(), **state.errors}
    return render_template("public/subscribe.html", **_form_context(state)), 400


@bp.post("/subscribe")
@limiter.limit(lambda: str(current_app.config["RATELIMIT_SUBSCRIBE"]))
@formguard.protect("subscribe", on_refused=_subscribe_again)
def subscribe() -> Page:
    if request.form.get(current_app.config["SUBSCRIBE_HONEYPOT_FIELD"]):
        # A bot filled in the field people never see: answer as usual, do nothing.
        return render_template("public/subscribe_done.html")
    state, wanted = _read_subscribe()
    if wanted is None:
        return render_template("public/subscribe.html", **_form_context(state)), 400
    subscriptions.subscribe(wanted, channel="web")
    # The same page for a new, pending, active or unsubscribed address: no enumeration. It
    # may repeat what was typed (only the comune's alerts), never what the address holds.
    alerts_only = None
    if wanted.alerts_only and wanted.municipality:
        alerts_only = service.municipality_choices().get(wanted.municipality)
    return render_template("public/subscribe_done.html", alerts_only=alerts_only)


def _bad_link(exc: InvalidToken | None = None) -> tuple[str, int]:
    expired = isinstance(exc, ExpiredToken)
    return render_template("public/bad_link.html", expired=expired), 400 if exc else 404


def _subscriber_for(purpose: Purpose, token: str) -> Subscriber | tuple[str, int]:
    """The subscriber a link is for, or the page saying the link does not work."""
    try:
        subscriber = subscriber_for(purpose, token)
    except InvalidToken as exc:
        return _bad_link(exc)
    if subscriber is None:
        return _bad_link()
    _speak_their_language(subscriber)
    return subscriber


def _for_link(purpose: Purpose) -> Callable[[LinkView], Callable[[str], Page]]:
    """Resolve the ``<token>`` of a personal link into its subscriber before the view runs;
    a link that does not work gets the bad-link page instead."""

    def decorate(view: LinkView) -> Callable[[str], Page]:
        @functools.wraps(view)
        def with_subscriber(token: str) -> Page:
            found = _subscriber_for(purpose, token)
            if not isinstance(found, Subscriber):
                return found
            return view(found, token)

        return with_subscriber

    return decorate


def _speak_their_language(subscriber: Subscriber) -> None:
    """Pages reached from an e-mail use the subscriber's language unless the visitor chose."""
    if request.args.get("lang") not in SUPPORTED and session.get("lang") not in SUPPORTED:
        g.force_locale = subscriber.locale


@bp.get("/confirm/<token>")
@_for_link(Purpose.CONFIRM)
def confirm_page(subscriber: Subscriber, token: str) -> Page:
    if subscriber.status is SubscriberStatus.ACTIVE:
        return _confirmed(subscriber)
    if subscriber.status is not SubscriberStatus.PENDING:
        return _bad_link()
    return render_template("public/confirm.html", token=token)


@bp.post("/confirm/<token>")
@_for_link(Purpose.CONFIRM)
@formguard.protect("confirm")
def confirm(subscriber: Subscriber, token: str) -> Page:
    if subscriber.status not in (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE):
        return _bad_link()
    return _confirmed(subscriptions.confirm(subscriber.id, channel="web"))


def _comune_name(subscriber: Subscriber) -> str | None:
    return subscriber.municipality.name if subscriber.municipality is not None else None


def _confirmed(subscriber: Subscriber) -> str:
    return render_template(
        "public/confirmed.html",
        preferences_url=personal_url_for(Purpose.PREFERENCES, subscriber, external=False),
        alerts_for=_comune_name(subscriber) if subscriber.alerts else None,
        alerts_only=subscriptions.alerts_are_all(subscriber),
    )


def _preferences_page(subscriber: Subscriber, token: str, state: forms.FormState) -> str:
    return render_template(
        "public/preferences.html",
        subscriber=subscriber,
        token=token,
        form=state,
        topics=service.topics(),
        municipalities=service.municipalities(),
        saved=request.args.get("saved") == "1",
        alerts_only=subscriptions.alerts_are_all(subscriber),
        comune_name=_comune_name(subscriber),
        export_url=personal_url_for(Purpose.EXPORT, subscriber, external=False),
        unsubscribe_url=personal_url_for(Purpose.UNSUBSCRIBE, subscriber, external=False),
    )


@bp.get("/preferences/<token>")
@_for_link(Purpose.PREFERENCES)
def preferences(subscriber: Subscriber, token: str) -> Page:
    state = forms.FormState(
        email=subscriber.email,
        topics=tuple(subscriber.topic_slugs),
        frequency=subscriber.frequency.value,
        locale=subscriber.locale,
        municipality=subscriber.municipality.slug if subscriber.municipality is not None else "",
        local_news=subscriber.local_news,
        alerts=subscriber.alerts,
    )
    return _preferences_page(subscriber, token, state)


def _read_preferences(
    subscriber: Subscriber,
) -> tuple[forms.FormState, subscriptions.Preferences | None]:
    return forms.read_preferences(
        request.form,
        service.known_topic_slugs(),
        {"locale": subscriber.locale},
        service.municipality_choices(),
    )


def _preferences_again(reason: str, subscriber: Subscriber, token: str) -> Page:
    """A refused form (expired token) comes back as ticked, with a fresh token."""
    state, _wanted = _read_preferences(subscriber)
    state.email = subscriber.email
    state.errors = {"form": formguard.explanation(), **state.errors}
    return _preferences_page(subscriber, token, state), 400


@bp.post("/preferences/<token>")
@_for_link(Purpose.PREFERENCES)
@formguard.protect("preferences", on_refused=_preferences_again)
def save_preferences(subscriber: Subscriber, token: str) -> Page:
    if subscriber.status is not SubscriberStatus.ACTIVE:
        return redirect(url_for("public.preferences", token=token), 303)
    state, wanted = _read_preferences(subscriber)
    if wanted is None:
        state.email = subscriber.email
        return _preferences_page(subscriber, token, state), 400
    subscriptions.update_preferences(subscriber.id, wanted, channel="web")
    return redirect(url_for("public.preferences", token=token, saved="1", lang=wanted.locale), 303)


@bp.get("/export/<token>")
@_for_link(Purpose.EXPORT)
def export(subscriber: Subscriber, token: str) -> Page:
    body = json.dumps(subscriptions.export_data(subscriber.id), ensure_ascii=False, indent=2)
    response = Response(body + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-newsletter-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/preferences/<token>/erase")
@_for_link(Purpose.PREFERENCES)
def erase_page(subscriber: Subscriber, token: str) -> Page:
    return render_template("public/erase.html", token=token)


@bp.post("/preferences/<token>/erase")
@_for_link(Purpose.PREFERENCES)
@formguard.protect("erase")
def erase(subscriber: Subscriber, token: str) -> Page:
    subscriptions.erase(subscriber.id, channel="web")
    return render_template("public/erased.html")


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Page:
    """One button; GET never unsubscribes (mail scanners open links)."""
    try:
        subscriber = subscriber_for(Purpose.UNSUBSCRIBE, token)
    except InvalidToken as exc:
        return _bad_link(exc)
    if subscriber is not None:
        _speak_their_language(subscriber)
    done = subscriber is None or subscriber.status is SubscriberStatus.UNSUBSCRIBED
    return render_template("public/unsubscribe.html", token=token, done=done)


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Page:
    """The page's button and RFC 8058 one-click (no cookies, no CSRF token, no redirect)."""
    one_click, subscriber, refused = _posted_link(Purpose.UNSUBSCRIBE, token)
    if refused is not None:
        return refused
    if subscriber is not None:  # gone, or the id means somebody else now: nothing to do
        subscriptions.unsubscribe(subscriber.id, channel="one-click" if one_click else "web")
    if one_click:
        return _plain("unsubscribed", 200)
    return render_template("public/unsubscribe.html", token=token, done=True, just_now=True)


csrf.exempt(unsubscribe)  # RFC 8058: mail clients post without cookies or a CSRF token


@bp.get("/unsubscribe/alerts/<token>")
def unsubscribe_alerts_page(token: str) -> Page:
    """Stop the urgent alerts only (the link in every alert mail); one button, as above."""
    try:
        subscriber = subscriber_for(Purpose.UNSUBSCRIBE_ALERTS, token)
    except InvalidToken as exc:
        return _bad_link(exc)
    if subscriber is not None:
        _speak_their_language(subscriber)
    done = subscriber is None or not subscriber.alerts
    return render_template(
        "public/unsubscribe_alerts.html",
        token=token,
        done=done,
        left=_left(subscriber),
        only_alerts=subscriber is not None and subscriptions.alerts_are_all(subscriber),
    )


def _left(subscriber: Subscriber | None) -> bool:
    """Receives nothing from us any more (unsubscribed, bounced, erased...)."""
    return subscriber is None or subscriber.status is not SubscriberStatus.ACTIVE


@bp.post("/unsubscribe/alerts/<token>")
def unsubscribe_alerts(token: str) -> Page:
    """The page's button and the alert mails' RFC 8058 one-click: alerts off, digests kept."""
    one_click, subscriber, refused = _posted_link(Purpose.UNSUBSCRIBE_ALERTS, token)
    if refused is not None:
        return refused
    if subscriber is not None:
        # Someone whose only choice was the alerts is unsubscribed altogether.
        subscriptions.unsubscribe_alerts(subscriber.id, channel="one-click" if one_click else "web")
    left = _left(subscriber)
    if one_click:
        return _plain("unsubscribed" if left else "unsubscribed from alerts", 200)
    return render_template(
        "public/unsubscribe_alerts.html", token=token, done=True, just_now=True, left=left
    )


csrf.exempt(unsubscribe_alerts)


def _posted_link(purpose: Purpose, token: str) -> tuple[bool, Subscriber | None, Page | None]:
    """A posted unsubscribe link: whether a mail client posted it (RFC 8058 one-click), whom
    it names, and the answer when the link is bad (plain text for a mail client)."""
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    try:
        subscriber = subscriber_for(purpose, token)
    except InvalidToken as exc:
        return one_click, None, _plain(exc.message, 400) if one_click else _bad_link(exc)
    if subscriber is not None and not one_click:
        _speak_their_language(subscriber)
    return one_click, subscriber, None


def _plain(text: str, status: int) -> Response:
    response = make_response(text + "\n", status)
    response.mimetype = "text/plain"
    return response


@bp.get("/privacy")
def privacy() -> str:
    return render_template(
        "public/privacy.html",
        notice_version=current_app.config["PRIVACY_NOTICE_VERSION"],
        pending_days=current_app.config["PENDING_TTL_DAYS"],
    )


def _config_date(name: str) -> date:
    return date.fromisoformat(str(current_app.config[name]))


@bp.get("/accessibility")
def accessibility() -> str:
    """Shaped like AgID's model statement; the official one is published through AgID's form."""
    return render_template(
        "public/accessibility.html",
        prepared_on=_config_date("ACCESSIBILITY_PREPARED_ON"),
        reviewed_on=_config_date("ACCESSIBILITY_REVIEWED_ON"),
        feedback_email=current_app.config["ACCESSIBILITY_FEEDBACK_EMAIL"]
        or current_app.config["CONTACT_EMAIL"],
        statement_url=current_app.config["ACCESSIBILITY_STATEMENT_URL"],
    )


@bp.get("/legal")
def legal() -> str:
    return render_template("public/legal.html", updated_on=_config_date("LEGAL_NOTES_UPDATED_ON"))
