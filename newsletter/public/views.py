"""Public pages. Views translate HTTP to service calls and back, nothing more."""

from __future__ import annotations

from flask import Blueprint, render_template

from newsletter.public import service

bp = Blueprint("public", __name__)


@bp.get("/")
def home() -> str:
    content = service.home_content()
    return render_template("public/home.html", topics=content.topics, latest=content.latest)
