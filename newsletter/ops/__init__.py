"""Operations: health and metrics endpoints, the ``serve`` and ``demo`` commands."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    from newsletter.ops.cli import demo_command, serve_command
    from newsletter.ops.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(serve_command)
    app.cli.add_command(demo_command)
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies > 0:
        # Behind nginx every client would otherwise be 127.0.0.1: one person hitting the login
        # rate limit would lock everybody out, and HTTPS would look like HTTP.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
