"""Cross-cutting HTTP behaviour: error pages and JSON errors, security headers."""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from newsletter.exceptions import NewsletterError


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/push/")) or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str, details: object = None) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify({"error": message, "details": details}), status
    return render_template("error.html", status=status, message=message), status


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def init_app(app: Flask) -> None:
    hops = int(app.config.get("TRUSTED_PROXIES", 0))
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )

    @app.errorhandler(NewsletterError)
    def _newsletter_error(exc: NewsletterError) -> tuple[Response | str, int]:
        return error_response(exc.status_code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
        return error_response(400, str(exc.description))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response | str, int] | HTTPException:
        if exc.code is None:
            return exc
        return error_response(exc.code, exc.description or exc.name)

    @app.context_processor
    def _nonce() -> dict[str, object]:
        return {"csp_nonce": csp_nonce}

    @app.after_request
    def _security_headers(response: Response) -> Response:
        nonce = g.get("csp_nonce")
        script_src = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' https: data:; style-src 'self'; "
            "font-src 'self' data:; "  # the kit's CSS inlines one icon font as data:
            f"script-src {script_src}; form-action 'self'; base-uri 'none'; "
            "object-src 'none'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
