"""Admin pages about people: unsubscribing or erasing someone, the roster import and export,
the municipalities file. HTTP only; the domain operations audit with the signed-in account."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from newsletter.admin import auth
from newsletter.admin.views import ADMIN, attempt, bp
from newsletter.exceptions import ValidationError

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
