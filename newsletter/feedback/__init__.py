"""Page feedback: "how useful is this page?" as anonymous counts per page and rating.

The design-comuni page model asks every public page for a rating; we keep only how many times
each page got each rating (no address, no time, no cookie), so the admin dashboard can show
which pages people find unclear.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.feedback import views

    app.register_blueprint(views.bp)
    app.context_processor(views.template_context)
