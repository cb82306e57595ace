"""The admin area: accounts and roles, audit log, dashboard, articles, sources, subscribers,
roster, digest previews and test sends.

Other domains add pages and buttons through ``newsletter.admin.extend`` (see docs/admin.md).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.admin import account  # noqa: F401  (its routes join the blueprint)
    from newsletter.admin.cli import users_cli
    from newsletter.admin.extend import registry
    from newsletter.admin.service import render_test_mail
    from newsletter.admin.unlock import render_unlock_mail
    from newsletter.admin.views import bp
    from newsletter.hooks import register_service_mail

    registry(app)
    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
    register_service_mail(app, "test", render_test_mail)
    register_service_mail(app, "unlock", render_unlock_mail)
    _subscriber_actions(app)


def _subscriber_actions(app: Flask) -> None:
    """Buttons on other pages, through the same extension point other domains use."""
    from flask_babel import lazy_gettext as _l

    from newsletter.admin.extend import ObjectAction, register_action
    from newsletter.admin.models import UserRole

    # Both are admin-only POSTs behind a confirmation box; only the wording and danger differ.
    for endpoint, label, confirm, danger in (
        (
            "admin.unsubscribe_subscriber",
            _l("Unsubscribe"),
            _l("The person asked to stop all mail"),
            False,
        ),
        ("admin.erase_subscriber", _l("Erase"), _l("Erase this person's data for good"), True),
    ):
        register_action(
            app,
            "subscriber",
            ObjectAction(
                label=label,
                endpoint=endpoint,
                role=UserRole.ADMIN,
                method="post",
                confirm=confirm,
                danger=danger,
            ),
        )
