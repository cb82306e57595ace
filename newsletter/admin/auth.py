"""Admin-area accounts: argon2id passwords, login with lockout, the session, role checks."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy.exc import IntegrityError

from newsletter import audit
from newsletter.admin.models import User, UserRole
from newsletter.audit import Actor
from newsletter.db import utcnow
from newsletter.exceptions import Conflict, Unauthorized, ValidationError
from newsletter.extensions import db
from newsletter.subscriptions.models import normalize_email

P = ParamSpec("P")
R = TypeVar("R")

SESSION_USER_KEY = "admin_user_id"
SESSION_VERSION_KEY = "admin_session_version"
MAX_PASSWORD_LENGTH = 1024  # hashing megabytes of "password" is a denial of service


@dataclass(frozen=True)
class LoginResult:
    user: User
    rehashed: bool


def hasher() -> PasswordHasher:
    """argon2id with the configured cost; changing the settings upgrades hashes at next login."""
    cfg = current_app.config
    return PasswordHasher(
        time_cost=int(cfg["ADMIN_ARGON2_TIME_COST"]),
        memory_cost=int(cfg["ADMIN_ARGON2_MEMORY_KIB"]),
        parallelism=int(cfg["ADMIN_ARGON2_PARALLELISM"]),
    )


def check_password_policy(password: str, email: str) -> None:
    minimum = int(current_app.config["ADMIN_PASSWORD_MIN_LENGTH"])
    if len(password) < minimum:
        raise ValidationError(f"password too short: at least {minimum} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"password too long: at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise ValidationError("password too weak: use more different characters")
    local_part = normalize_email(email).split("@")[0]
    if len(local_part) >= 4 and local_part in password.lower():
        raise ValidationError("password too weak: it contains the e-mail address")


def create_user(email: str, role: UserRole | str, password: str, *, actor: Actor) -> User:
    """A new account, audited; flushed, not committed (the caller commits)."""
    email = normalize_email(email)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise ValidationError(f"not an e-mail address: {email!r}")
    try:
        role = UserRole(role)
    except ValueError:
        raise ValidationError(f"unknown role {role!r} (admin or editor)") from None
    check_password_policy(password, email)
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(email=email, role=role, password_hash=hasher().hash(password))
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"a user with e-mail {email} already exists") from None
    audit.record(actor, "user.create", f"user:{user.id}", {"email": user.email, "role": str(role)})
    return user


def authenticate(
    email: str, password: str, code: str | None = None, *, lock_exempt_user: int | None = None
) -> LoginResult:
    """Check a password (and the TOTP code, for accounts that have one), counting failures;
    N failures in a row lock the account for a while.

    The lock stops guessing, but anyone could use it to keep the real owner out: so the right
    password plus a valid second-factor code, or a browser that opened the e-mailed unlock link
    (``lock_exempt_user``), still gets in. The same error for an unknown address, a wrong
    password or code and a locked account, so the form tells no one which addresses have
    accounts, nor whether a guessed password was right.
    """
    from newsletter.admin import twofactor

    refused = Unauthorized("E-mail or password not accepted.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise refused
    user = db.session.scalar(
        sa.select(User).where(User.email == normalize_email(email)).with_for_update()
    )
    now = utcnow()
    ph = hasher()
    if user is None or not user.active:
        _burn_time(ph, password)
        raise refused
    locked = user.locked_until is not None and user.locked_until > now
    exempt = lock_exempt_user == user.id
    if locked and not exempt and not user.totp_secret:
        # Locked, no unlock link in this browser, no second factor: nothing gets through.
        _burn_time(ph, password)
        raise refused
    try:
        ph.verify(user.password_hash, password)
        password_ok = True
    except (VerificationError, InvalidHashError):
        password_ok = False
    code_ok = user.totp_secret is None or (
        password_ok and twofactor.verify_code(user, code or "", now)
    )
    if not (password_ok and code_ok):
        if not locked:
            _count_failure(user, now)
        db.session.commit()
        raise refused
    rehashed = ph.check_needs_rehash(user.password_hash)
    if rehashed:
        user.password_hash = ph.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return LoginResult(user=user, rehashed=rehashed)


def _count_failure(user: User, now: datetime) -> None:
    """One more failure; at the threshold the account locks and its owner is mailed a link."""
    from newsletter.admin import unlock

    cfg = current_app.config
    user.failed_logins += 1
    if user.failed_logins >= int(cfg["ADMIN_LOCKOUT_THRESHOLD"]):
        user.locked_until = now + timedelta(seconds=int(cfg["ADMIN_LOCKOUT_SECONDS"]))
        user.failed_logins = 0
        unlock.queue_unlock_mail(user, now)


_DUMMY_HASH: dict[tuple[int, int, int], str] = {}


def _burn_time(ph: PasswordHasher, password: str) -> None:
    """Spend as long as a real check, so response times do not reveal which accounts exist."""
    key = (ph.time_cost, ph.memory_cost, ph.parallelism)
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = ph.hash("not-a-real-password")
    with contextlib.suppress(VerificationError):
        ph.verify(_DUMMY_HASH[key], password)


def login_user(user: User) -> None:
    """A fresh session: whatever the visitor had before (a planted session id too) is dropped."""
    locale = session.get("lang")
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF caches the old session's token for this request
    session[SESSION_USER_KEY] = user.id
    session[SESSION_VERSION_KEY] = user.session_version
    if locale:
        session["lang"] = locale


def logout_user(user: User | None = None) -> None:
    """Sign out: the cookie is dropped, and with ``user`` every other copy of it stops working
    too (a cookie copied off this machine before the logout is refused from now on)."""
    if user is not None:
        end_all_sessions(user)
    session.clear()
    g.pop("csrf_token", None)


def end_all_sessions(user: User) -> None:
    """Every session of the account ends at its next request (the caller commits)."""
    user.session_version = (user.session_version or 0) + 1


def current_user() -> User | None:
    """The signed-in account, re-read each time (the session's identity map makes it cheap),
    so a deactivated account, or a session older than the last logout or password change,
    loses access at its next request."""
    user_id = session.get(SESSION_USER_KEY)
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active:
        return None
    if session.get(SESSION_VERSION_KEY) != user.session_version:
        return None
    return user


def current_actor() -> Actor:
    """The signed-in account as the actor of an operation (views behind ``require_role``)."""
    user = current_user()
    if user is None:
        raise Unauthorized("sign in first")
    return Actor.of_user(user)


def change_password(user: User, current: str, new: str) -> None:
    """The owner changes their password: the old one must be right; every session ends."""
    check_current_password(user, current)
    set_password(user, new)


def check_current_password(user: User, password: str) -> None:
    """Asked again before changing what protects the account (a session may be borrowed)."""
    try:
        hasher().verify(user.password_hash, password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        raise ValidationError("the current password is not right") from None


def set_password(user: User, new: str) -> None:
    """A new password (the owner's, or an administrator's reset from the console)."""
    check_password_policy(new, user.email)
    user.password_hash = hasher().hash(new)
    end_all_sessions(user)


def has_role(user: User | None, role: UserRole) -> bool:
    """Admins can do everything editors can."""
    if user is None:
        return False
    return role == UserRole.EDITOR or user.role == UserRole.ADMIN


def require_role(role: UserRole | str) -> Callable[[Callable[P, R]], Callable[P, R | Any]]:
    """Views behind login: strangers go to the login page, the wrong role gets a 403."""
    needed = UserRole(role)

    def decorator(view: Callable[P, R]) -> Callable[P, R | Any]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Any:
            user = current_user()
            if user is None:
                target = request.full_path if request.method == "GET" else None
                return redirect(url_for("admin.login", next=safe_next(target)))
            if needs_second_factor(user) and request.endpoint not in ENROLMENT_ENDPOINTS:
                return redirect(url_for("admin.account"))
            if not has_role(user, needed):
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_role = needed  # type: ignore[attr-defined]
        return wrapper

    return decorator


# What an administrator who must set up a second factor can still reach.
ENROLMENT_ENDPOINTS = frozenset(
    {"admin.account", "admin.totp_start", "admin.totp_confirm", "admin.change_password"}
)


def needs_second_factor(user: User) -> bool:
    """With ADMIN_REQUIRE_TOTP (production), an administrator without one only reaches the
    page that sets it up."""
    return (
        bool(current_app.config.get("ADMIN_REQUIRE_TOTP"))
        and user.role == UserRole.ADMIN
        and not user.totp_secret
    )


def safe_next(target: str | None) -> str | None:
    """Only paths inside the admin area: never another site (open redirect)."""
    if not target:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        abort(400)  # a line break would end up in the Location header: nobody types that
    target = target.rstrip("?")
    if not target.startswith("/admin") or target.startswith("//") or "\\" in target:
        return None
    return target
