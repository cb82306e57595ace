"""TOTP two-factor login: enrolment with the secret shown once, codes at sign-in (no replay),
the lockout that the owner can still pass, the e-mailed unlock link (through the outbox, to a
real relay), the console reset, and the production requirement for administrators."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin.models import AuditEntry, User
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.exceptions import ConfigurationError
from newsletter.extensions import db
from tests.conftest import make_app
from tests.fixtures.admin import (
    ADMIN_EMAIL,
    EDITOR_EMAIL,
    FAST_HASHING,
    PASSWORD,
    browser,
    csrf_token,
)
from tests.fixtures.delivery import Relay

NOW = datetime(2026, 11, 30, 9, 0, 7, tzinfo=UTC)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # Every browser here is 127.0.0.1: the per-address limit is another test's subject.
    return {**FAST_HASHING, "RATELIMIT_LOGIN": "1000 per minute"}


def _post_login(client: FlaskClient, email_: str, password: str, code: str = "") -> int:
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login",
        data={"email": email_, "password": password, "code": code, "csrf_token": token},
    )
    return int(response.status_code)


def _signed_in(app: Flask, email_: str, code: str = "") -> FlaskClient:
    client = browser(app)
    assert _post_login(client, email_, PASSWORD, code) == 302
    return client


def _enrol(client: FlaskClient, at: datetime) -> str:
    """Through the account page: the secret is on the page once, with its QR code."""
    token = csrf_token(client.get("/admin/account").get_data(as_text=True))
    page = client.post("/admin/account/totp", data={"csrf_token": token})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    secret = re.search(r'class="totp-secret">([A-Z2-7]+)<', body)
    assert secret, body[:2000]
    assert "<svg" in body  # the QR code, inline
    wrong = client.post(
        "/admin/account/totp/confirm", data={"csrf_token": csrf_token(body), "code": "000000"}
    )
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret.group(1)).at(at)
    ok = client.post(
        "/admin/account/totp/confirm",
        data={"csrf_token": csrf_token(wrong.get_data(as_text=True)), "code": code},
    )
    assert ok.status_code == 302, ok.get_data(as_text=True)[:1000]
    # Reloading the page never shows the secret again.
    assert secret.group(1) not in client.get("/admin/account").get_data(as_text=True)
    return secret.group(1)


def test_enrolled_account_needs_a_code_and_a_code_works_once(app: Flask, editor_user: User) -> None:
    with time_machine.travel(NOW, tick=False):
        secret = _enrol(_signed_in(app, EDITOR_EMAIL), NOW)
    db.session.expire_all()
    assert db.session.get(User, editor_user.id).totp_secret == secret  # type: ignore[union-attr]
    totp = pyotp.TOTP(secret)
    later = NOW + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD) == 401  # no code
        assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD, "123456") == 401
        code = totp.at(later)
        assert _post_login(browser(app), EDITOR_EMAIL, "wrong-password-12", code) == 401
        assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD, code) == 302
        assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD, code) == 401  # replayed
    then = later + timedelta(seconds=90)
    with time_machine.travel(then, tick=False):
        # One step of clock drift is accepted (the phone may be a little behind), two are not.
        two_behind = totp.at(then - timedelta(seconds=60))
        assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD, two_behind) == 401
        one_behind = totp.at(then - timedelta(seconds=30))
        assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD, one_behind) == 302
    actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert "user.totp_enable" in actions


def _lock(app: Flask, email_: str) -> None:
    attacker = browser(app)
    for _ in range(app.config["ADMIN_LOCKOUT_THRESHOLD"]):
        assert _post_login(attacker, email_, "guessing-the-password") == 401


def test_locked_account_still_lets_in_the_password_plus_a_code(
    app: Flask, editor_user: User
) -> None:
    with time_machine.travel(NOW, tick=False):
        secret = _enrol(_signed_in(app, EDITOR_EMAIL), NOW)
    at = NOW + timedelta(minutes=2)
    with time_machine.travel(at, tick=False):
        _lock(app, EDITOR_EMAIL)
        db.session.expire_all()
        assert db.session.get(User, editor_user.id).locked_until is not None  # type: ignore[union-attr]
        code = pyotp.TOTP(secret).at(at)
        # While locked, a wrong password with a right code does not get through...
        assert _post_login(browser(app), EDITOR_EMAIL, "guessing-again-123", code) == 401
        # ...the right password with the code does: the attacker cannot keep the owner out.
        assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD, code) == 302
    db.session.expire_all()
    assert db.session.get(User, editor_user.id).locked_until is None  # type: ignore[union-attr]


def _send_all(app: Flask, relay: Relay) -> None:
    relay.configure(app)
    Sender(app, SmtpRelayTransport.from_config(app.config)).run(threading.Event(), until_idle=True)


def test_lockout_mails_an_unlock_link_that_lets_only_that_browser_in(
    app: Flask, editor_user: User, relay: Relay
) -> None:
    _lock(app, EDITOR_EMAIL)
    (row,) = db.session.scalars(sa.select(Delivery).where(Delivery.kind == DeliveryKind.UNLOCK))
    assert row.to_address == EDITOR_EMAIL
    assert row.status == DeliveryStatus.QUEUED
    assert relay.handler.received == []  # nothing sent from the request
    # Locking it again within the hour does not mail again (no mail bombing the team).
    db.session.get(User, editor_user.id).locked_until = None  # type: ignore[union-attr]
    db.session.commit()
    _lock(app, EDITOR_EMAIL)
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 1

    _send_all(app, relay)
    (received,) = relay.handler.received
    assert received.rcpt_tos == [EDITOR_EMAIL]
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https?://\S+/admin/unlock/(\S+)", text)
    assert link, text
    # Locked: the right password alone is refused in any browser...
    assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD) == 401
    # ...but the browser that opened the link gets in.
    owner = browser(app)
    opened = owner.get(f"/admin/unlock/{link.group(1)}")
    assert opened.status_code == 302
    assert _post_login(owner, EDITOR_EMAIL, "a-wrong-password-9") == 401  # still a password
    assert _post_login(owner, EDITOR_EMAIL, PASSWORD) == 302
    assert owner.get("/admin/").status_code == 200
    # A forged or altered link does nothing.
    stranger = browser(app)
    stranger.get(f"/admin/unlock/{link.group(1)[:-2]}xx")
    _lock(app, EDITOR_EMAIL)
    assert _post_login(stranger, EDITOR_EMAIL, PASSWORD) == 401
    # After the owner's logout (session version bumped) the old link is dead too.
    token = csrf_token(owner.get("/admin/").get_data(as_text=True))
    owner.post("/admin/logout", data={"csrf_token": token})
    late = browser(app)
    late.get(f"/admin/unlock/{link.group(1)}")
    assert _post_login(late, EDITOR_EMAIL, PASSWORD) == 401


def test_console_reset_removes_the_second_factor(app: Flask, editor_user: User) -> None:
    with time_machine.travel(NOW, tick=False):
        _enrol(_signed_in(app, EDITOR_EMAIL), NOW)
    assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD) == 401  # a code is needed
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["users", "list"])
    assert "two-factor" in listed.output
    result = runner.invoke(args=["users", "reset-totp", "--email", EDITOR_EMAIL])
    assert result.exit_code == 0, result.output
    assert _post_login(browser(app), EDITOR_EMAIL, PASSWORD) == 302  # password alone again
    assert "user.totp_reset" in set(db.session.scalars(sa.select(AuditEntry.action)))


@pytest.fixture
def strict_app(database_url: str, tmp_path: Path) -> Flask:
    """Production's rule, on the test configuration."""
    return make_app(
        database_url,
        tmp_path / "strict",
        ADMIN_REQUIRE_TOTP=True,
        RATELIMIT_LOGIN="1000 per minute",
        **FAST_HASHING,
    )


def test_when_required_an_administrator_must_enrol_first(
    strict_app: Flask, admin_user: User, editor_user: User
) -> None:
    # One frozen time for the whole test: a session cookie signed "in the future" of a
    # time-travel block would read as not yet valid outside it.
    with strict_app.app_context(), time_machine.travel(NOW, tick=False):
        client = browser(strict_app)
        assert _post_login(client, ADMIN_EMAIL, PASSWORD) == 302
        for url in ("/admin/", "/admin/users", "/admin/subscribers"):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response.headers["Location"] == "/admin/account"
        page = client.get("/admin/account").get_data(as_text=True)
        assert "Gli amministratori devono entrare con un secondo fattore" in page
        _enrol(client, NOW)
        users_page = client.get("/admin/users")
        assert users_page.status_code == 200, users_page.headers.get("Location")
        # Editors are not forced (optional for them).
        assert browser(strict_app).get("/admin/").status_code == 302
        editor = browser(strict_app)
        assert _post_login(editor, EDITOR_EMAIL, PASSWORD) == 302
        assert editor.get("/admin/").status_code == 200
        # And the administrator cannot turn it off.
        token = csrf_token(client.get("/admin/account").get_data(as_text=True))
        off = client.post(
            "/admin/account/totp/disable", data={"csrf_token": token, "current_password": PASSWORD}
        )
        assert off.status_code == 422


def test_production_refuses_to_start_without_the_requirement(
    database_url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="ADMIN_REQUIRE_TOTP"):
        make_app(
            database_url,
            tmp_path / "prod",
            ENV_NAME="production",
            SECRET_KEY="x" * 40,
            ADMIN_REQUIRE_TOTP=False,
        )
    prod = make_app(database_url, tmp_path / "prod2", ENV_NAME="production", SECRET_KEY="x" * 40)
    assert prod.config["ADMIN_REQUIRE_TOTP"] is True


def test_editor_turns_two_factor_off_with_the_password(app: Flask, editor_user: User) -> None:
    with time_machine.travel(NOW, tick=False):
        client = _signed_in(app, EDITOR_EMAIL)
        _enrol(client, NOW)
        token = csrf_token(client.get("/admin/account").get_data(as_text=True))
        wrong = client.post(
            "/admin/account/totp/disable",
            data={"csrf_token": token, "current_password": "not-it-at-all-1"},
        )
        assert wrong.status_code == 422
        token = csrf_token(wrong.get_data(as_text=True))
        off = client.post(
            "/admin/account/totp/disable", data={"csrf_token": token, "current_password": PASSWORD}
        )
        assert off.status_code == 302
        assert client.get("/admin/").status_code == 200
    db.session.expire_all()
    assert db.session.get(User, editor_user.id).totp_secret is None  # type: ignore[union-attr]


def test_users_page_shows_who_has_two_factor_login(
    app: Flask, admin_user: User, editor_user: User
) -> None:
    with time_machine.travel(NOW, tick=False):
        _enrol(_signed_in(app, EDITOR_EMAIL), NOW)
        admin = browser(app)
        assert _post_login(admin, ADMIN_EMAIL, PASSWORD) == 302
        page = admin.get("/admin/users").get_data(as_text=True)
    rows = {
        email_: re.search(rf"<td>{re.escape(email_)}</td>.*?</tr>", page, re.S)
        for email_ in (ADMIN_EMAIL, EDITOR_EMAIL)
    }
    editor_row, admin_row = rows[EDITOR_EMAIL], rows[ADMIN_EMAIL]
    assert editor_row is not None
    assert admin_row is not None
    assert "<td>configurato</td>" in editor_row.group(0)
    assert "<td>non configurato</td>" in admin_row.group(0)
