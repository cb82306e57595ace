"""Cross-cutting HTTP behaviour: error pages and JSON errors, security headers."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, Response, abort, g, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, ValidationError

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


MAX_JSON_DEPTH = 32  # arrays and objects inside each other; no request of ours needs more
MAX_PAGE = 100_000
SQL_INTEGER_MAX = 2**31 - 1  # an id column (PostgreSQL integer); larger ids do not exist


class BoundedJSONProvider(DefaultJSONProvider):
    """JSON bodies nested deeper than MAX_JSON_DEPTH are bad input (400), never a 500: the
    parser itself recurses, and so would any code walking the result."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        _check_depth(value)
        return value


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number no id column can hold is a 404, not a database
    error (SQLite cannot bind it; Python refuses to parse thousands of digits)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", SQL_INTEGER_MAX)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        if len(value) > len(str(SQL_INTEGER_MAX)):
            raise ValidationError()
        return super().to_python(value)  # type: ignore[no-any-return]


def page_arg(name: str = "page") -> int:
    """``?page=``: 1 when absent or not a number; 404 for a page no listing can have."""
    raw = (request.args.get(name) or "").strip()
    if not raw.isdigit():
        return 1
    if len(raw) > len(str(MAX_PAGE)) or int(raw) > MAX_PAGE:
        abort(404)
    return max(int(raw), 1)


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def init_app(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)
    app.url_map.converters["int"] = IdConverter
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
        if exc.code == 413:
            # The body was refused unread: nothing while rendering the answer (a form in a
            # template's context) may try to parse it again.
            request.__dict__["form"] = ImmutableMultiDict()
            request.__dict__["files"] = ImmutableMultiDict()
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
