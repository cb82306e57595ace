"""The VAPID key pair (RFC 8292) that signs every push request.

``newsletter push keys`` writes a P-256 private key (PEM) to the instance folder, or to
``VAPID_PRIVATE_KEY_FILE``; the public key is what browsers subscribe with (``GET /push/key``)
and what push services check the JWT against (the ``k=`` of the Authorization header).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.exceptions import Conflict, NewsletterError

KEY_FILENAME = "vapid_private_key.pem"


class PushNotConfigured(NewsletterError):
    status_code = 404


def key_path(config: Any, instance_path: str) -> Path:
    configured = config.get("VAPID_PRIVATE_KEY_FILE")
    return Path(configured) if configured else Path(instance_path) / KEY_FILENAME


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_key_b64(private: ec.EllipticCurvePrivateKey) -> str:
    """The uncompressed point, base64url: the ``applicationServerKey`` browsers want."""
    raw = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


def create(path: Path, *, force: bool = False) -> ec.EllipticCurvePrivateKey:
    """A new key pair in ``path`` (mode 0600); never overwrites one without ``force``."""
    if path.exists() and not force:
        raise Conflict(
            f"{path} exists already; use --force to replace it (browsers must subscribe again)"
        )
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)
    return private


def load(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PushNotConfigured("Web Push has no key yet: run `newsletter push keys`") from None
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise NewsletterError(f"{path} is not a P-256 private key")
    return key
