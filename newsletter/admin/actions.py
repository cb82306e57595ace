"""Admin pages that change things, and the digest preview. HTTP only: each view reads the form,
calls the domain's operation with the signed-in account as its ``Actor`` (the operation writes
the audit row) and answers with a flash message and a redirect, or the page with the error.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import escape
from werkzeug.wrappers import Response

from newsletter.admin import auth, service
from newsletter.admin.views import ADMIN, EDITOR, _back, _topic_names, attempt, bp
from newsletter.api.models import ApiToken
from newsletter.db import get_or_404
from newsletter.exceptions import NewsletterError
from newsletter.extensions import db
from newsletter.reference.service import municipality_names
from newsletter.vocabulary import Frequency, Locale
from newsletter.web import page_arg

T = TypeVar("T")

PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; sandbox; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)


# --- articles ---------------------------------------------------------------------------------


def _set_hidden(id: int, hidden: bool) -> Response:
    """Hide or restore, say which, and go back to the list the button was on."""
    from newsletter.articles.service import set_hidden

    article = set_hidden(id, hidden, actor=auth.current_actor())
    if hidden:
        flash(_("Hidden: %(title)s", title=article.title), "success")
    else:
        flash(_("Restored: %(title)s", title=article.title), "success")
    return _back(url_for("admin.article", id=id))


@bp.post("/articles/<int:id>/hide")
@auth.require_role(EDITOR)
def hide_article(id: int) -> Response:
    return _set_hidden(id, True)


@bp.post("/articles/<int:id>/restore")
@auth.require_role(EDITOR)
def restore_article(id: int) -> Response:
    return _set_hidden(id, False)


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


@bp.post("/articles/<int:id>/municipalities")
@auth.require_role(EDITOR)
def article_municipality(id: int) -> Response:
    """Add (``action=add``) or remove (``action=remove``) one comune on the article."""
    from newsletter.articles.service import set_municipality_by_editor

    try:
        municipality_id = int(request.form.get("municipality", ""))
    except ValueError:
        flash(_("Choose a comune."), "error")
        return redirect(url_for("admin.article", id=id))
    included = request.form.get("action") == "add"
    saved, _error = attempt(
        lambda: set_municipality_by_editor(
            id, municipality_id, included, actor=auth.current_actor()
        ),
        _l("Comuni not saved: %(error)s"),
    )
    if saved is not None:
        flash(
            _("Comuni saved; your correction is kept when the article is imported again."),
            "success",
        )
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
        "admin/digests.html",
        results=results,
        rows=rows,
        jobs=service.job_schedule(),
        paused=service.paused_digests(),
    )


def _to_digests(message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("admin.digests"))


@bp.post("/digests/<int:id>/retry")
@auth.require_role(EDITOR)
def retry_digest(id: int) -> Response:
    count = service.retry_failed(id, actor=auth.current_actor())
    return _to_digests(
        ngettext(
            "%(num)d failed delivery queued again.",
            "%(num)d failed deliveries queued again.",
            count,
        )
    )


@bp.post("/digests/<int:id>/resume")
@auth.require_role(ADMIN)
def resume_digest(id: int) -> Response:
    return _resolve_hold(id, resume=True)


@bp.post("/digests/<int:id>/cancel")
@auth.require_role(ADMIN)
def cancel_digest(id: int) -> Response:
    return _resolve_hold(id, resume=False)


def _resolve_hold(id: int, resume: bool) -> Response:
    """Resume or cancel a paused digest's deliveries, and say how many."""
    count = service.resolve_hold(id, resume=resume, actor=auth.current_actor())
    if resume:
        return _to_digests(
            ngettext(
                "%(num)d paused delivery queued again.",
                "%(num)d paused deliveries queued again.",
                count,
            )
        )
    return _to_digests(
        ngettext(
            "%(num)d paused delivery cancelled.", "%(num)d paused deliveries cancelled.", count
        )
    )


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
