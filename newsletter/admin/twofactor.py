"""TOTP second factor (RFC 6238, pyotp): enrolment, code checks, reset.

Codes are 6 digits for 30-second steps; one step of clock drift either way is accepted, and a
code is accepted once only (the step is remembered), so a code seen over someone's shoulder
cannot be replayed.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import segno
from flask import current_app

from newsletter.admin.models import User
from newsletter.exceptions import ValidationError

STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits, base32, as authenticator apps expect."""
    return pyotp.random_base32(length=32)


def provisioning_uri(email: str, secret: str) -> str:
    issuer = str(current_app.config.get("ADMIN_TOTP_ISSUER") or "Newsletter")
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (no image request, nothing leaves the page)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, omitsize=False))


def _step_matching(secret: str, code: str, now: datetime) -> int | None:
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def check_new_code(secret: str, code: str, now: datetime) -> int:
    """During enrolment: the code the app shows proves it holds the secret."""
    step = _step_matching(secret, code, now)
    if step is None:
        raise ValidationError("the code does not match: check the phone's clock and try again")
    return step


def verify_code(user: User, code: str, now: datetime) -> bool:
    """A sign-in code for ``user``; a code of a step already used is refused (replay)."""
    if not user.totp_secret:
        return False
    step = _step_matching(user.totp_secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def enable(user: User, secret: str, code: str, now: datetime) -> None:
    user.totp_last_step = check_new_code(secret, code, now)
    user.totp_secret = secret


def disable(user: User) -> None:
    """Removes the second factor (console reset, or the owner while it is not required);
    every session of the account ends."""
    from newsletter.admin.auth import end_all_sessions

    user.totp_secret = None
    user.totp_last_step = None
    end_all_sessions(user)
