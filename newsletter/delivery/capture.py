"""The demo's mail capture: an SMTP server that keeps each message as an .eml file, and the
demo-only pages that list and show them, so a newcomer can confirm a subscription without a
real relay. The pages are registered only when ``DEMO`` is true.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, render_template
from flask.typing import ResponseReturnValue

NAME = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}\.eml$")
URL = re.compile(r"(https?://[^\s<>\"]+)")


def mail_folder(app: Flask) -> Path:
    return Path(app.instance_path) / "mail"


class CaptureHandler:
    """aiosmtpd handler: every accepted message becomes ``<folder>/<time>-<random>.eml``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}.eml"
        temporary = self.folder / f".{name}.tmp"
        temporary.write_bytes(content)
        os.replace(temporary, self.folder / name)
        return "250 OK captured"


@dataclass(frozen=True)
class Captured:
    name: str
    subject: str
    to: str
    date: datetime | None


def _parse(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _date(message: EmailMessage) -> datetime | None:
    try:
        return parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        return None


def list_captured(folder: Path, limit: int = 200) -> list[Captured]:
    """Newest first (the file names start with the capture time)."""
    if not folder.is_dir():
        return []
    names = sorted((p.name for p in folder.iterdir() if NAME.match(p.name)), reverse=True)
    found = []
    for name in names[:limit]:
        message = _parse(folder / name)
        found.append(
            Captured(name, str(message["Subject"] or ""), str(message["To"] or ""), _date(message))
        )
    return found


def linkify(text: str) -> list[tuple[str, bool]]:
    """Text split into (piece, is_url) so the template can make links without ``|safe``."""
    pieces: list[tuple[str, bool]] = []
    for index, piece in enumerate(URL.split(text)):
        if piece:
            pieces.append((piece, index % 2 == 1))
    return pieces


bp = Blueprint("mailcapture", __name__, url_prefix="/demo/mail", template_folder="templates")


def _message(name: str) -> EmailMessage:
    if not NAME.match(name):
        abort(404)
    path = mail_folder(current_app) / name
    if not path.is_file():
        abort(404)
    return _parse(path)


@bp.get("")
def index() -> ResponseReturnValue:
    return render_template(
        "delivery/mail_list.html", messages=list_captured(mail_folder(current_app))
    )


@bp.get("/<name>")
def show(name: str) -> ResponseReturnValue:
    message = _message(name)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part is not None else ""
    headers = [(h, str(message[h])) for h in ("From", "To", "Subject", "Date") if message[h]]
    list_headers = [(h, str(message[h])) for h in ("List-Id", "List-Unsubscribe") if message[h]]
    return render_template(
        "delivery/mail_show.html",
        name=name,
        headers=headers,
        list_headers=list_headers,
        pieces=linkify(text),
        has_html=html_part is not None,
        subject=str(message["Subject"] or ""),
        date=_date(message) or datetime.now(UTC),
    )


@bp.get("/<name>/html")
def show_html(name: str) -> ResponseReturnValue:
    """The HTML part as sent, in a sandbox: no scripts, no forms, links open normally."""
    part = _message(name).get_body(preferencelist=("html",))
    if part is None:
        abort(404)
    response = current_app.response_class(part.get_content(), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "sandbox allow-popups allow-top-navigation-by-user-activation; default-src 'none'; "
        "img-src https: data:; style-src 'unsafe-inline'"
    )
    return response
