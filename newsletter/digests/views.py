"""The public archive of past editions. HTTP only: the service does the work."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_babel import format_date, gettext

from newsletter.digests import service
from newsletter.digests.models import Digest
from newsletter.i18n import select_locale
from newsletter.vocabulary import Frequency
from newsletter.web import page_arg

bp = Blueprint("digests", __name__)


@bp.get("/archive")
def archive() -> str:
    page = page_arg()
    listing = service.list_editions(select_locale(), page)
    return render_template("digests/archive.html", listing=listing)


@bp.get("/archive/<int:digest_id>")
def edition(digest_id: int) -> str:
    digest = service.get_edition(digest_id)
    sections = service.edition_sections(digest, select_locale())
    return render_template("digests/edition.html", digest=digest, sections=sections)


def edition_title(digest: Digest) -> str:
    when = format_date(digest.window_end, "d MMMM y")
    if digest.frequency == Frequency.DAILY:
        return str(gettext("Daily edition of %(date)s", date=when))
    return str(gettext("Weekly edition of %(date)s", date=when))


@bp.context_processor
def _archive_helpers() -> dict[str, object]:
    return {
        "edition_title": edition_title,
        "format_date": format_date,
        "base_url": current_app.config["BASE_URL"],
    }
