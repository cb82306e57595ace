"""Push routes: the public key, subscribing and stopping, the service worker, the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for
from flask_babel import gettext as _

from newsletter import formguard
from newsletter.exceptions import ValidationError
from newsletter.extensions import limiter
from newsletter.push import service, vapid

bp = Blueprint("push", __name__, static_folder="static", static_url_path="/push/static")
STATIC = Path(__file__).parent / "static"


def _json_body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ValidationError("expected a JSON body")
    return data


@bp.get("/push/key")
def public_key() -> Response:
    path = vapid.key_path(current_app.config, current_app.instance_path)
    return jsonify(public_key=vapid.public_key_b64(vapid.load(path)))


@bp.post("/push/subscriptions")
@limiter.limit(lambda: str(current_app.config["PUSH_SUBSCRIBE_RATE"]))
@formguard.protect("push")  # the page's token in X-CSRFToken; a refusal is a 400 JSON error
def subscribe() -> tuple[Response, int]:
    choice = service.parse_choice(_json_body())
    found, created = service.subscribe(choice)
    return jsonify(subscription=found.public()), 201 if created else 200


@bp.delete("/push/subscriptions")
@formguard.protect("push")
def unsubscribe() -> Response | tuple[Response, int]:
    data = _json_body()
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    if not service.unsubscribe(data.get("endpoint"), data.get("auth")):
        return jsonify(error="no such push subscription"), 404
    return Response(status=204)


@bp.get("/sw.js")
def service_worker() -> Response:
    response = send_file(STATIC / "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    icons = [
        {
            "src": url_for("push.static", filename=f"icon-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "any maskable" if size == 512 else "any",
        }
        for size in (192, 512)
    ]
    body = {
        "name": _("Area Omogenea Cremasca newsletter"),
        "short_name": "Cremasco",
        "description": _("News of the 48 municipalities of the Area Omogenea Cremasca"),
        "lang": "it",
        "start_url": url_for("public.home"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0066cc",
        "icons": icons,
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    return response
