"""Admin-area accounts: argon2id passwords, login with lockout, the session, role checks."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
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


def authenticate(email: str, password: str) -> LoginResult:
    """Check a password, counting failures; N failures in a row lock the account for a while.

    The same error for an unknown address, a wrong password and a locked account, so the
    form does not tell anyone which addresses have accounts.
    """
    cfg = current_app.config
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
    if user.locked_until is not None and user.locked_until > now:
        _burn_time(ph, password)
        raise refused
    try:
        ph.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= int(cfg["ADMIN_LOCKOUT_THRESHOLD"]):
            user.locked_until = now + timedelta(seconds=int(cfg["ADMIN_LOCKOUT_SECONDS"]))
            user.failed_logins = 0
        db.session.commit()
        raise refused from None
    rehashed = ph.check_needs_rehash(user.password_hash)
    if rehashed:
        user.password_hash = ph.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return LoginResult(user=user, rehashed=rehashed)


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
    if locale:
        session["lang"] = locale


def logout_user() -> None:
    session.clear()
    g.pop("csrf_token", None)


def current_user() -> User | None:
    """The signed-in account, re-read each time (the session's identity map makes it cheap),
    so a deactivated account loses access at its next request."""
    user_id = session.get(SESSION_USER_KEY)
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active:
        return None
    return user


def current_actor() -> Actor:
    """The signed-in account as the actor of an operation (views behind ``require_role``)."""
    user = current_user()
    if user is None:
        raise Unauthorized("sign in first")
    return Actor.of_user(user)


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
            if not has_role(user, needed):
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_role = needed  # type: ignore[attr-defined]
        return wrapper

    return decorator


def safe_next(target: str | None) -> str | None:
    """Only paths inside the admin area: never another site (open redirect)."""
    if not target:
        return None
    target = target.rstrip("?")
    if not target.startswith("/admin") or target.startswith("//") or "\\" in target:
        return None
    return target
