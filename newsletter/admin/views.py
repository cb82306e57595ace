"""Admin pages. HTTP only: each view reads the request, calls ``service`` and renders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup
from werkzeug.wrappers import Response

from newsletter import audit, formguard
from newsletter.admin import auth, charts, service, unlock
from newsletter.admin import dashboard as dashboard_data
from newsletter.admin.extend import registry
from newsletter.admin.forms import ActionForm, LoginForm
from newsletter.admin.models import UserRole
from newsletter.articles import training
from newsletter.articles.service import municipality_edits
from newsletter.audit import Actor
from newsletter.exceptions import NewsletterError, Unauthorized
from newsletter.extensions import db, limiter
from newsletter.feedback import service as feedback
from newsletter.i18n import select_locale
from newsletter.reference.service import list_municipalities, list_topics
from newsletter.subscriptions.models import Role
from newsletter.vocabulary import Frequency
from newsletter.web import page_arg

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    static_folder="static",
    static_url_path="/static",
)

DELIVERY_COLORS = (0, 1, 3)  # sent blue, failed orange, bounced purple (green would read "good")
EDITOR = UserRole.EDITOR
ADMIN = UserRole.ADMIN


@bp.app_context_processor
def _admin_context() -> dict[str, Any]:
    from flask import has_request_context

    # Every page under /admin, whichever domain's blueprint serves it, gets the admin layout's
    # navigation and forms.
    if not has_request_context() or not request.path.startswith(bp.url_prefix or "/admin"):
        return {}
    from newsletter.admin.alerts import nav_badges
    from newsletter.alerts.service import awaiting_count

    user = auth.current_user()
    nav = [
        (_("Dashboard"), "admin.dashboard", EDITOR),
        (_("Alerts"), "admin.alerts", EDITOR),
        (_("Articles"), "admin.articles", EDITOR),
        (_("Sources"), "admin.sources", EDITOR),
        (_("Subscribers"), "admin.subscribers", ADMIN),
        (_("Digests"), "admin.digests", EDITOR),
        (_("Preview"), "admin.digest_preview", EDITOR),
        (_("Roster"), "admin.roster", ADMIN),
        (_("API tokens"), "admin.tokens", ADMIN),
        (_("Users"), "admin.users", ADMIN),
        (_("Audit log"), "admin.audit_log", ADMIN),
    ]
    nav += [(item.label, item.endpoint, item.role) for item in registry().nav]
    visible = [(label, endpoint) for label, endpoint, role in nav if auth.has_role(user, role)]
    return {
        "admin_user": user,
        "admin_nav": visible,
        "admin_nav_badges": nav_badges() if user is not None else {},
        "admin_actions": lambda kind: [
            a for a in registry().actions[kind] if auth.has_role(user, a.role)
        ],
        # Only for someone signed in: building it writes Flask-WTF's token into the session, and
        # the sign-in page (or a 404 under /admin) must not set a cookie.
        "action_form": ActionForm() if user is not None else None,
        "value_label": _value_label,
        "alerts_awaiting": awaiting_count,
    }


def _value_label(value: object) -> str:
    """Stored enum values (statuses, roles, frequencies, consent actions) in the page's language."""
    labels = {
        "pending": _("pending"),
        "active": _("active"),
        "unsubscribed": _("unsubscribed"),
        "bounced": _("bounced"),
        Role.CITIZEN: _("citizen"),
        Role.MAYOR: _("mayor"),
        Role.OFFICIAL: _("official"),
        Frequency.IMMEDIATE: _("immediate"),
        Frequency.DAILY: _("daily"),
        Frequency.WEEKLY: _("weekly"),
        "subscribe": _("sign-up"),
        "confirm": _("confirmation"),
        "preferences": _("preferences changed"),
        "unsubscribe": _("unsubscribe"),
        "erase": _("erasure"),
        "import": _("import"),
        "bounce": _("bounce"),
        "feed": _("RSS/Atom feed"),
        "push": _("CMS push"),
        "file": _("file import"),
        "ok": _("ok"),
        "error": _("error"),
        "not-modified": _("not modified"),
    }
    return str(labels.get(str(value), str(value)))


def _login_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _login_again(reason: str) -> tuple[str, int]:
    """A sign-in form sent too late comes back with the address typed, and a fresh token."""
    form = LoginForm()
    form.password.errors = [formguard.explanation()]
    return render_template("admin/login.html", form=form, hint=None), 400


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@formguard.protect("admin.login", on_refused=_login_again)
def login() -> str | Response | tuple[str, int]:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = auth.safe_next(request.args.get("next"))
    if form.validate_on_submit():
        try:
            result = auth.authenticate(
                form.email.data,
                form.password.data,
                form.code.data,
                lock_exempt_user=unlock.exempt_user_id(),
            )
        except Unauthorized as exc:
            form.password.errors.append(_("E-mail or password not accepted."))
            minutes = int(current_app.config["ADMIN_LOCKOUT_SECONDS"]) // 60
            hint = ngettext(
                "After %(num)d failed attempts the account is locked for %(minutes)d minutes.",
                "After %(num)d failed attempts the account is locked for %(minutes)d minutes.",
                int(current_app.config["ADMIN_LOCKOUT_THRESHOLD"]),
                minutes=minutes,
            )
            return render_template("admin/login.html", form=form, hint=hint), exc.status_code
        audit.record(Actor.of_user(result.user), "user.login", f"user:{result.user.id}")
        db.session.commit()
        auth.login_user(result.user)
        return redirect(auth.safe_next(form.next.data) or url_for("admin.dashboard"))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/login.html", form=form, hint=None), status


@bp.post("/logout")
def logout() -> Response:
    user = auth.current_user()
    if user is not None:
        audit.record(Actor.of_user(user), "user.logout", f"user:{user.id}")
    auth.logout_user(user)
    db.session.commit()
    flash(_("You are signed out."), "info")
    return redirect(url_for("admin.login"))


def _status_labels() -> dict[str, str]:
    return {
        "subscribe": _("Sign-ups"),
        "confirm": _("Confirmations"),
        "sent": _("Sent"),
        "failed": _("Failed"),
        "bounced": _("Bounced"),
    }


@bp.get("/")
@auth.require_role(EDITOR)
def dashboard() -> str:
    locale = select_locale()
    data = dashboard_data.dashboard(locale, _status_labels())
    topics = data.subscribers_by_topic
    signups = data.signups_vs_confirmations
    days = data.deliveries_per_day
    charts_html = {
        "topics": charts.line_chart(
            _("Active subscribers per topic, last 12 weeks"),
            _summary(topics, _("week of %(label)s")),
            topics.labels,
            topics.series,
        ),
        "signups": charts.bar_chart(
            _("Sign-ups and confirmations per week"),
            _summary(signups, _("week of %(label)s"), total=True),
            signups.labels,
            signups.series,
        ),
        "deliveries": charts.bar_chart(
            _("Deliveries per day: sent, failed, bounced"),
            _summary(days, _("%(label)s"), total=True),
            days.labels,
            days.series,
            stacked=True,
            colors=DELIVERY_COLORS,
        ),
    }
    return render_template(
        "admin/dashboard.html",
        data=data,
        charts=charts_html,
        delivery_colors=DELIVERY_COLORS,
        page_ratings=feedback.summary(),
    )


def _summary(chart: dashboard_data.TimeChart, period: str, *, total: bool = False) -> str:
    """The chart in one or two sentences, for screen readers (the table has every number)."""
    if not chart.labels:
        return ""
    latest = period % {"label": chart.labels[-1]}
    parts = ", ".join(f"{s.label} {s.values[-1]}" for s in chart.series)
    text = str(_("Latest, %(period)s: %(values)s.", period=latest, values=parts))
    if total:
        sums = ", ".join(f"{s.label} {sum(s.values)}" for s in chart.series)
        text += " " + str(_("Whole period: %(values)s.", values=sums))
    else:
        first = period % {"label": chart.labels[0]}
        start = ", ".join(f"{s.label} {s.values[0]}" for s in chart.series)
        text += " " + str(_("At the start, %(period)s: %(values)s.", period=first, values=start))
    return text


@bp.get("/subscribers")
@auth.require_role(ADMIN)
def subscribers() -> str:
    query = request.args.get("q", "").strip()
    exact = request.args.get("match") == "exact"
    results = (
        service.search_subscribers(query, exact=exact, page=_page_arg())
        if query or request.args.get("all")
        else None
    )
    return render_template(
        "admin/subscribers.html", query=query, exact=exact, results=results, topics=_topic_names()
    )


@bp.get("/subscribers/<int:id>")
@auth.require_role(ADMIN)
def subscriber(id: int) -> str:
    detail = service.subscriber_detail(id)
    return render_template("admin/subscriber.html", detail=detail, topics=_topic_names())


@bp.get("/articles")
@auth.require_role(EDITOR)
def articles() -> str:
    query = request.args.get("q", "")
    topic = request.args.get("topic") or None
    visibility = request.args.get("visibility", "")
    hidden = {"hidden": True, "visible": False}.get(visibility)
    results = service.list_articles(query, topic=topic, hidden=hidden, page=_page_arg())
    return render_template(
        "admin/articles.html",
        results=results,
        query=query,
        topic=topic,
        visibility=visibility,
        topics=_topic_names(),
    )


@bp.get("/articles/<int:id>")
@auth.require_role(EDITOR)
def article(id: int) -> str:
    found = service.get_article(id)
    return render_template(
        "admin/article.html",
        article=found,
        topics=_topic_names(),
        suggestion=training.suggest(found),
        municipalities=list_municipalities(),
        municipality_edits=municipality_edits(found.id),
    )


@bp.get("/sources")
@auth.require_role(EDITOR)
def sources() -> str:
    return render_template(
        "admin/sources.html",
        sources=service.list_sources(),
        counts=service.article_counts_by_source(),
    )


@bp.get("/users")
@auth.require_role(ADMIN)
def users() -> str:
    from newsletter.db import utcnow

    return render_template("admin/users.html", users=service.list_users(), now=utcnow())


@bp.get("/audit")
@auth.require_role(ADMIN)
def audit_log() -> str:
    action = request.args.get("action") or None
    return render_template(
        "admin/audit.html",
        entries=service.audit_log(_page_arg(), action),
        actions=service.audit_actions(),
        action=action,
    )


def _page_arg() -> int:
    return page_arg()


def _topic_names() -> dict[str, str]:
    locale = select_locale()
    return {t.slug: t.name(locale) for t in list_topics()}


def _back(default: str) -> Response:
    """Back to the list the button was on (with its filters), else to the default page."""
    target = auth.safe_next(request.form.get("next"))
    return redirect(target or default)


T = TypeVar("T")


def attempt(operation: Callable[[], T], failure: Any = None) -> tuple[T | None, str | None]:
    """Run one state change. An expected failure (NewsletterError) rolls the transaction back
    and, given a ``failure`` text with ``%(error)s``, is flashed; either way its message is
    returned for pages that show it themselves."""
    try:
        return operation(), None
    except NewsletterError as exc:
        db.session.rollback()
        if failure is not None:
            flash(Markup.escape(str(failure)) % {"error": in_english(exc.message)}, "error")
        return None, exc.message


def in_english(text: str) -> Markup:
    """A service's message (they are written in English, for the API and the CLI as well),
    marked as English on a page in another language, so a screen reader pronounces it as
    English (WCAG 3.1.2, language of parts)."""
    if select_locale() == "en":
        return Markup.escape(text)
    return Markup('<span lang="en">{}</span>').format(text)


# The other pages join ``bp`` from their own modules.
from newsletter.admin import actions as _actions  # noqa: E402,F401
from newsletter.admin import alerts as _alerts  # noqa: E402,F401
from newsletter.admin import people as _people  # noqa: E402,F401
