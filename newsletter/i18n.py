"""Language choice: ``?lang=`` sticks in the session, else Accept-Language, else Italian;
and packages' own catalogues for text made outside a request (mail rendered once per language).

The session cookie is written only when the choice changes what the pages would be anyway (the
ITA/ENG switch against the browser's language): a link that merely names the language the
visitor already gets sets no cookie (the privacy notice promises none before one is needed)."""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import format_date, format_datetime, format_decimal

from newsletter.extensions import babel
from newsletter.vocabulary import Locale

SUPPORTED = Locale.values()  # what Accept-Language is matched against


def select_locale() -> str:
    if not has_request_context():
        return str(current_app.config["DEFAULT_LOCALE"])
    forced = getattr(g, "force_locale", None)
    if forced in SUPPORTED:
        return str(forced)
    asked = request.args.get("lang")
    kept = session.get("lang")
    if asked in SUPPORTED:
        if asked != (kept if kept in SUPPORTED else _unchosen()):
            if asked == _unchosen():
                session.pop("lang", None)  # back to the browser's own language
            else:
                session["lang"] = asked
        return asked
    if kept in SUPPORTED:
        return str(kept)
    return _unchosen()


def _unchosen() -> str:
    """The language of a visitor who never chose one: the browser's, else Italian."""
    best = request.accept_languages.best_match(SUPPORTED)
    return best or str(current_app.config["DEFAULT_LOCALE"])


def local_time(value: datetime, tz: str | None = None) -> datetime:
    """Stored UTC to the wall clock people read (Europe/Rome by default)."""
    return value.astimezone(ZoneInfo(tz or current_app.config["TIMEZONE"]))


@cache
def catalogue(folder: Path, locale: str) -> NullTranslations:
    """A package's own catalogue (``<package>/translations``) for text made outside a request
    (mail rendered once per language), read from the .po file so that a missing .mo cannot go
    unnoticed."""
    po = folder / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        found = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, found)
    buffer.seek(0)
    return Translations(buffer)


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)

    @app.before_request
    def _fresh_locale() -> None:
        """The page language is decided per request, even where an outer app context (tests, a
        shell) makes ``g`` outlive one request."""
        g.pop("_flask_babel", None)
        g.pop("force_locale", None)

    # Globals too, so that macros imported without context can format dates.
    app.jinja_env.globals.update(
        format_date=format_date, format_datetime=format_datetime, format_decimal=format_decimal
    )

    @app.context_processor
    def _locale_context() -> dict[str, object]:
        return {
            "current_locale": select_locale(),
            "format_datetime": format_datetime,
            "format_date": format_date,
        }


@cache
def mail_templates(
    templates_dir: str, catalogues: str, locale: str, html: bool
) -> jinja2.Environment:
    """The Jinja environment mail is rendered with, once per folder, language and part: the
    package's catalogue installed, HTML autoescaped, the text part not; a missing value is an
    error, never an empty string in a message sent to thousands."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=html,  # noqa: S701 - the text part is plain text, not HTML
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(catalogue(Path(catalogues), locale), newstyle=True)  # type: ignore[attr-defined]
    return env
