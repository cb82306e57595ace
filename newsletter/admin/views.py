"""Admin pages. HTTP only: each view reads the request, calls ``service`` and renders."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import escape
from werkzeug.wrappers import Response

from newsletter.admin import auth, charts, service, unlock
from newsletter.admin.extend import registry
from newsletter.admin.forms import ActionForm, LoginForm
from newsletter.admin.models import UserRole
from newsletter.articles import training
from newsletter.articles.service import municipality_edits
from newsletter.db import get_or_404
from newsletter.exceptions import NewsletterError, Unauthorized, ValidationError
from newsletter.extensions import db, limiter
from newsletter.feedback import service as feedback
from newsletter.i18n import select_locale
from newsletter.reference.service import list_municipalities, list_topics
from newsletter.subscriptions.models import Role
from newsletter.vocabulary import Frequency, Locale
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
    user = auth.current_user()
    nav = [
        (_("Dashboard"), "admin.dashboard", EDITOR),
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
        "admin_actions": lambda kind: [
            a for a in registry().actions[kind] if auth.has_role(user, a.role)
        ],
        "action_form": ActionForm(),
        "value_label": _value_label,
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


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
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
        service.audit("user.login", f"user:{result.user.id}", user=result.user)
        db.session.commit()
        auth.login_user(result.user)
        return redirect(auth.safe_next(form.next.data) or url_for("admin.dashboard"))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/login.html", form=form, hint=None), status


@bp.post("/logout")
def logout() -> Response:
    user = auth.current_user()
    if user is not None:
        service.audit("user.logout", f"user:{user.id}", user=user)
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
    data = service.dashboard(locale, _status_labels())
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


def _summary(chart: service.TimeChart, period: str, *, total: bool = False) -> str:
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


@bp.post("/articles/<int:id>/hide")
@auth.require_role(EDITOR)
def hide_article(id: int) -> Response:
    article = service.set_article_hidden(id, True)
    flash(_("Hidden: %(title)s", title=article.title), "success")
    return _back(url_for("admin.article", id=id))


@bp.post("/articles/<int:id>/restore")
@auth.require_role(EDITOR)
def restore_article(id: int) -> Response:
    article = service.set_article_hidden(id, False)
    flash(_("Restored: %(title)s", title=article.title), "success")
    return _back(url_for("admin.article", id=id))


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


# --- digests: preview, test send, deliveries, schedule -------------------------------------

PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; sandbox; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)


def _preview_request(source: Any) -> service.PreviewRequest:
    return service.PreviewRequest(
        frequency=source.get("frequency", Frequency.WEEKLY.value),
        topics=tuple(source.getlist("topics")),
        lang=source.get("lang", Locale.IT.value),
        mayor=source.get("mayor") or None,
    )


@bp.get("/digests")
@auth.require_role(EDITOR)
def digests() -> str:
    results, rows = service.list_digests(_page_arg())
    return render_template(
        "admin/digests.html",
        results=results,
        rows=rows,
        jobs=service.job_schedule(),
        paused=service.paused_digests(),
    )


@bp.post("/digests/<int:id>/retry")
@auth.require_role(EDITOR)
def retry_digest(id: int) -> Response:
    count = service.retry_failed(id)
    flash(
        ngettext(
            "%(num)d failed delivery queued again.",
            "%(num)d failed deliveries queued again.",
            count,
        ),
        "success",
    )
    return redirect(url_for("admin.digests"))


@bp.post("/digests/<int:id>/resume")
@auth.require_role(ADMIN)
def resume_digest(id: int) -> Response:
    count = service.resolve_hold(id, resume=True)
    flash(
        ngettext(
            "%(num)d paused delivery queued again.",
            "%(num)d paused deliveries queued again.",
            count,
        ),
        "success",
    )
    return redirect(url_for("admin.digests"))


@bp.post("/digests/<int:id>/cancel")
@auth.require_role(ADMIN)
def cancel_digest(id: int) -> Response:
    count = service.resolve_hold(id, resume=False)
    flash(
        ngettext(
            "%(num)d paused delivery cancelled.", "%(num)d paused deliveries cancelled.", count
        ),
        "success",
    )
    return redirect(url_for("admin.digests"))


@bp.get("/digests/preview")
@auth.require_role(EDITOR)
def digest_preview() -> tuple[str, int]:
    chosen = _preview_request(request.args) if request.args.get("frequency") else None
    rendered = error = None
    if chosen is not None:
        try:
            rendered = service.render_preview(chosen)
        except NewsletterError as exc:
            error = exc.message
    return render_template(
        "admin/digest_preview.html",
        chosen=chosen,
        rendered=rendered,
        error=error,
        topics=_topic_names(),
        municipalities=service.municipality_names(),
        locales=Locale.values(),
        frequencies=Frequency.values(),
    ), (422 if error else 200)


@bp.get("/digests/preview/html")
@auth.require_role(EDITOR)
def digest_preview_html() -> Response:
    """The e-mail's HTML alone, for the sandboxed iframe: its inline styles need their own CSP."""
    try:
        html = service.render_preview(_preview_request(request.args)).html
        status = 200
    except NewsletterError as exc:
        html, status = f"<p>{escape(exc.message)}</p>", 422
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/digests/test")
@auth.require_role(EDITOR)
def digest_test_send() -> Response:
    chosen = _preview_request(request.form)
    try:
        delivery = service.queue_test_send(request.form.get("to", ""), chosen)
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Test not queued: %(error)s", error=exc.message), "error")
    else:
        flash(
            _(
                "Test queued for %(address)s: the sender delivers it shortly.",
                address=delivery.to_address,
            ),
            "success",
        )
    return redirect(url_for("admin.digest_preview", **chosen.query_args()))


# --- articles: topics ----------------------------------------------------------------------


@bp.post("/articles/<int:id>/topics")
@auth.require_role(EDITOR)
def article_topics(id: int) -> Response:
    try:
        service.set_article_topics(id, request.form.getlist("topics"))
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Topics not saved: %(error)s", error=exc.message), "error")
    else:
        flash(_("Topics saved; they override the classifier and later imports."), "success")
    return redirect(url_for("admin.article", id=id))


@bp.post("/articles/<int:id>/municipalities")
@auth.require_role(EDITOR)
def article_municipality(id: int) -> Response:
    """Add (``action=add``) or remove (``action=remove``) one comune on the article."""
    try:
        municipality_id = int(request.form.get("municipality", ""))
    except ValueError:
        flash(_("Choose a comune."), "error")
        return redirect(url_for("admin.article", id=id))
    included = request.form.get("action") == "add"
    try:
        service.set_article_municipality(id, municipality_id, included)
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Comuni not saved: %(error)s", error=exc.message), "error")
    else:
        flash(
            _("Comuni saved; your correction is kept when the article is imported again."),
            "success",
        )
    return redirect(url_for("admin.article", id=id))


# --- subscribers: unsubscribe, erase ---------------------------------------------------------


def _confirmed() -> bool:
    if request.form.get("confirm") == "yes":
        return True
    flash(_("Tick the confirmation box first."), "error")
    return False


@bp.post("/subscribers/<int:id>/unsubscribe")
@auth.require_role(ADMIN)
def unsubscribe_subscriber(id: int) -> Response:
    if _confirmed():
        changed = service.unsubscribe_subscriber(id)
        flash(_("Unsubscribed.") if changed else _("Already unsubscribed."), "success")
    return redirect(url_for("admin.subscriber", id=id))


@bp.post("/subscribers/<int:id>/erase")
@auth.require_role(ADMIN)
def erase_subscriber(id: int) -> Response:
    if not _confirmed():
        return redirect(url_for("admin.subscriber", id=id))
    service.erase_subscriber(id)
    flash(_("The subscriber's data is erased."), "success")
    return redirect(url_for("admin.subscribers"))


# --- roster and municipalities -------------------------------------------------------------


# Their bodies may be larger than MAX_CONTENT_LENGTH (a CSV file); werkzeug spools big files to
# disk while parsing, so the worker never holds more than a part in memory.
UPLOAD_ENDPOINTS = frozenset({"admin.roster_import", "admin.municipalities_import"})


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """Runs before any before_request (the CSRF check reads the form): the limit must be set
    before the body is parsed."""
    if endpoint in UPLOAD_ENDPOINTS:
        # The file may use the whole allowance; the multipart envelope comes on top.
        request.max_content_length = int(current_app.config["ADMIN_UPLOAD_MAX_BYTES"]) + 65536


def _uploaded_text(field: str) -> str | None:
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        return None
    raw: bytes = upload.read(int(current_app.config["ADMIN_UPLOAD_MAX_BYTES"]) + 1)
    if len(raw) > int(current_app.config["ADMIN_UPLOAD_MAX_BYTES"]):
        raise ValidationError("the file is too large")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("the file is not UTF-8 text") from None


@bp.get("/roster")
@auth.require_role(ADMIN)
def roster() -> str:
    return render_template("admin/roster.html", report=None, error=None)


@bp.post("/roster/import")
@auth.require_role(ADMIN)
def roster_import() -> tuple[str, int] | Response:
    dry_run = request.form.get("mode") != "commit"
    try:
        text = _uploaded_text("file")
        if text is None:
            raise ValidationError("choose a CSV file")
        report = service.import_roster_file(
            text, dry_run=dry_run, reactivate=request.form.get("reactivate") == "1"
        )
    except NewsletterError as exc:
        db.session.rollback()
        return render_template("admin/roster.html", report=None, error=exc.message), 422
    if not dry_run:
        flash(
            _(
                "Roster imported: %(created)d new, %(updated)d updated.",
                created=report.created,
                updated=report.updated,
            ),
            "success",
        )
        return redirect(url_for("admin.roster"))
    return render_template("admin/roster.html", report=report, error=None), 200


@bp.post("/roster/municipalities")
@auth.require_role(ADMIN)
def municipalities_import() -> tuple[str, int] | Response:
    try:
        text = _uploaded_text("file")
        if text is None:
            raise ValidationError("choose a CSV file")
        counts = service.import_municipalities_file(text)
    except NewsletterError as exc:
        db.session.rollback()
        return render_template("admin/roster.html", report=None, error=exc.message), 422
    flash(
        _(
            "Municipalities: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.",
            created=counts.created,
            updated=counts.updated,
            unchanged=counts.unchanged,
        ),
        "success",
    )
    return redirect(url_for("admin.roster"))


@bp.get("/roster/export.<fmt>")
@auth.require_role(ADMIN)
def roster_export(fmt: str) -> Response:
    from newsletter.subscriptions.roster import export_subscribers

    if fmt not in ("csv", "json"):
        abort(404)
    body = export_subscribers(fmt)
    service.audit("subscribers.export", None, {"format": fmt})
    db.session.commit()
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="subscribers.{fmt}"'
    return response


# --- sources, API tokens, users --------------------------------------------------------------


@bp.post("/sources/add")
@auth.require_role(EDITOR)
def add_source() -> Response:
    try:
        source = service.add_feed_source(request.form.get("url", ""), request.form.get("name"))
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Source not added: %(error)s", error=exc.message), "error")
    else:
        flash(_("Source added: %(name)s", name=source.name), "success")
    return redirect(url_for("admin.sources"))


@bp.post("/sources/<int:id>/poll")
@auth.require_role(EDITOR)
def poll_source(id: int) -> Response:
    try:
        result = service.poll_source(id)
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Poll failed: %(error)s", error=exc.message), "error")
    else:
        flash(_("Polled: %(result)s", result=result.counts.line()), "success")
    return redirect(url_for("admin.sources"))


@bp.get("/tokens")
@auth.require_role(ADMIN)
def tokens() -> str:
    from newsletter.api.service import SCOPES, list_tokens

    return render_template("admin/tokens.html", tokens=list_tokens(), new_token=None, scopes=SCOPES)


@bp.post("/tokens")
@auth.require_role(ADMIN)
def create_token() -> str | Response:
    from newsletter.api.service import SCOPES, list_tokens

    try:
        _record, secret = service.create_api_token(
            request.form.get("name", ""), request.form.getlist("scopes")
        )
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Token not created: %(error)s", error=exc.message), "error")
        return redirect(url_for("admin.tokens"))
    # Shown once, in this response only: only its hash is stored.
    response = render_template(
        "admin/tokens.html", tokens=list_tokens(), new_token=secret, scopes=SCOPES
    )
    return response


@bp.post("/tokens/<int:id>/revoke")
@auth.require_role(ADMIN)
def revoke_token(id: int) -> Response:
    from newsletter.api.models import ApiToken

    record = get_or_404(ApiToken, id)
    service.revoke_api_token(record.name)
    flash(_("Token revoked: %(name)s", name=record.name), "success")
    return redirect(url_for("admin.tokens"))


@bp.post("/users")
@auth.require_role(ADMIN)
def create_user() -> Response:
    try:
        user = service.create_account(
            request.form.get("email", ""),
            request.form.get("role", ""),
            request.form.get("password", ""),
        )
    except NewsletterError as exc:
        db.session.rollback()
        flash(_("Account not created: %(error)s", error=exc.message), "error")
    else:
        flash(_("Account created: %(email)s", email=user.email), "success")
    return redirect(url_for("admin.users"))
