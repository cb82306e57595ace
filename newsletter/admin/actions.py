"""Admin pages that change things, and the digest preview. HTTP only: each view reads the form,
calls the domain's operation with the signed-in account as its ``Actor`` (the operation writes
the audit row) and answers with a flash message and a redirect, or the page with the error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import escape
from werkzeug.wrappers import Response

from newsletter.admin import auth, service
from newsletter.admin.views import ADMIN, EDITOR, _back, _topic_names, bp
from newsletter.api.models import ApiToken
from newsletter.db import get_or_404
from newsletter.exceptions import NewsletterError, ValidationError
from newsletter.extensions import db
from newsletter.reference.service import municipality_names
from newsletter.vocabulary import Frequency, Locale
from newsletter.web import page_arg

T = TypeVar("T")

PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; sandbox; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)


def attempt(operation: Callable[[], T], failure: Any = None) -> tuple[T | None, str | None]:
    """Run one state change. An expected failure (NewsletterError) rolls the transaction back
    and, given a ``failure`` text with ``%(error)s``, is flashed; either way its message is
    returned for pages that show it themselves."""
    try:
        return operation(), None
    except NewsletterError as exc:
        db.session.rollback()
        if failure is not None:
            flash(str(failure) % {"error": exc.message}, "error")
        return None, exc.message


# --- articles ---------------------------------------------------------------------------------


def _set_hidden(id: int, hidden: bool) -> Any:
    from newsletter.articles.service import set_hidden

    return set_hidden(id, hidden, actor=auth.current_actor())


@bp.post("/articles/<int:id>/hide")
@auth.require_role(EDITOR)
def hide_article(id: int) -> Response:
    article = _set_hidden(id, True)
    flash(_("Hidden: %(title)s", title=article.title), "success")
    return _back(url_for("admin.article", id=id))


@bp.post("/articles/<int:id>/restore")
@auth.require_role(EDITOR)
def restore_article(id: int) -> Response:
    article = _set_hidden(id, False)
    flash(_("Restored: %(title)s", title=article.title), "success")
    return _back(url_for("admin.article", id=id))


@bp.post("/articles/<int:id>/topics")
@auth.require_role(EDITOR)
def article_topics(id: int) -> Response:
    from newsletter.articles.service import set_topics_by_editor

    slugs = request.form.getlist("topics")
    saved, _error = attempt(
        lambda: set_topics_by_editor(id, slugs, actor=auth.current_actor()),
        _l("Topics not saved: %(error)s"),
    )
    if saved is not None:
        flash(_("Topics saved; they override the classifier and later imports."), "success")
    return redirect(url_for("admin.article", id=id))


# --- digests: preview, test send, retries -----------------------------------------------------


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
    results, rows = service.list_digests(page_arg())
    return render_template(
        "admin/digests.html", results=results, rows=rows, jobs=service.job_schedule()
    )


@bp.post("/digests/<int:id>/retry")
@auth.require_role(EDITOR)
def retry_digest(id: int) -> Response:
    count = service.retry_failed(id, actor=auth.current_actor())
    flash(
        ngettext(
            "%(num)d failed delivery queued again.",
            "%(num)d failed deliveries queued again.",
            count,
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
        municipalities=municipality_names(),
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
    to = request.form.get("to", "")
    delivery, _error = attempt(
        lambda: service.queue_test_send(to, chosen, actor=auth.current_actor()),
        _l("Test not queued: %(error)s"),
    )
    if delivery is not None:
        flash(
            _(
                "Test queued for %(address)s: the sender delivers it shortly.",
                address=delivery.to_address,
            ),
            "success",
        )
    return redirect(url_for("admin.digest_preview", **chosen.query_args()))


# --- subscribers: unsubscribe, erase -----------------------------------------------------------


def _confirmed() -> bool:
    if request.form.get("confirm") == "yes":
        return True
    flash(_("Tick the confirmation box first."), "error")
    return False


@bp.post("/subscribers/<int:id>/unsubscribe")
@auth.require_role(ADMIN)
def unsubscribe_subscriber(id: int) -> Response:
    from newsletter.subscriptions.service import get_subscriber, unsubscribe

    if _confirmed():
        get_subscriber(id)  # 404 for an id that is not there
        changed = unsubscribe(id, channel="admin", actor=auth.current_actor())
        flash(_("Unsubscribed.") if changed else _("Already unsubscribed."), "success")
    return redirect(url_for("admin.subscriber", id=id))


@bp.post("/subscribers/<int:id>/erase")
@auth.require_role(ADMIN)
def erase_subscriber(id: int) -> Response:
    from newsletter.subscriptions.service import erase

    if not _confirmed():
        return redirect(url_for("admin.subscriber", id=id))
    erase(id, channel="admin", actor=auth.current_actor())
    flash(_("The subscriber's data is erased."), "success")
    return redirect(url_for("admin.subscribers"))


# --- roster and municipalities ----------------------------------------------------------------


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


def _uploaded_text(field: str) -> str:
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise ValidationError("choose a CSV file")
    limit = int(current_app.config["ADMIN_UPLOAD_MAX_BYTES"])
    raw: bytes = upload.read(limit + 1)
    if len(raw) > limit:
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
    from newsletter.subscriptions.roster import import_roster

    dry_run = request.form.get("mode") != "commit"
    reactivate = request.form.get("reactivate") == "1"
    report, error = attempt(
        lambda: import_roster(
            _uploaded_text("file"),
            actor=auth.current_actor(),
            dry_run=dry_run,
            channel="admin",
            reactivate=reactivate,
        )
    )
    if report is None:
        return render_template("admin/roster.html", report=None, error=error), 422
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
    from newsletter.reference.service import import_municipalities

    counts, error = attempt(
        lambda: import_municipalities(_uploaded_text("file"), actor=auth.current_actor())
    )
    if counts is None:
        return render_template("admin/roster.html", report=None, error=error), 422
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
    body = export_subscribers(fmt, actor=auth.current_actor())
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="subscribers.{fmt}"'
    return response


# --- sources, API tokens, users ----------------------------------------------------------------


@bp.post("/sources/add")
@auth.require_role(EDITOR)
def add_source() -> Response:
    from newsletter.articles.feeds_import import add_source

    url, name = request.form.get("url", ""), request.form.get("name") or None
    source, _error = attempt(
        lambda: add_source(url, name, actor=auth.current_actor()),
        _l("Source not added: %(error)s"),
    )
    if source is not None:
        flash(_("Source added: %(name)s", name=source.name), "success")
    return redirect(url_for("admin.sources"))


@bp.post("/sources/<int:id>/poll")
@auth.require_role(EDITOR)
def poll_source(id: int) -> Response:
    from newsletter.articles.feeds_import import poll_now

    result, _error = attempt(
        lambda: poll_now(id, actor=auth.current_actor()), _l("Poll failed: %(error)s")
    )
    if result is not None:
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
    from newsletter.api.service import SCOPES, create_token, list_tokens

    name, scopes = request.form.get("name", ""), request.form.getlist("scopes")
    created, _error = attempt(
        lambda: create_token(name, scopes, actor=auth.current_actor()),
        _l("Token not created: %(error)s"),
    )
    if created is None:
        return redirect(url_for("admin.tokens"))
    # Shown once, in this response only: only its hash is stored.
    return render_template(
        "admin/tokens.html", tokens=list_tokens(), new_token=created[1], scopes=SCOPES
    )


@bp.post("/tokens/<int:id>/revoke")
@auth.require_role(ADMIN)
def revoke_token(id: int) -> Response:
    from newsletter.api.service import revoke_token

    record = get_or_404(ApiToken, id)
    revoke_token(record.name, actor=auth.current_actor())
    flash(_("Token revoked: %(name)s", name=record.name), "success")
    return redirect(url_for("admin.tokens"))


@bp.post("/users")
@auth.require_role(ADMIN)
def create_user() -> Response:
    form = request.form

    def create() -> Any:
        user = auth.create_user(
            form.get("email", ""),
            form.get("role", ""),
            form.get("password", ""),
            actor=auth.current_actor(),
        )
        db.session.commit()
        return user

    user, _error = attempt(create, _l("Account not created: %(error)s"))
    if user is not None:
        flash(_("Account created: %(email)s", email=user.email), "success")
    return redirect(url_for("admin.users"))
