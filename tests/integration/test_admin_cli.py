"""``newsletter users create``: hidden prompt or stdin, one-line errors, audited."""

from __future__ import annotations

import getpass
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner

from newsletter.admin.models import AuditEntry, User, UserRole
from newsletter.extensions import db
from tests.fixtures.admin import FAST_HASHING

GOOD = "Ponte-sul-Serio-1921"


def test_create_with_password_on_stdin(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "Sindaca@Comune.example",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input=GOOD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "created admin sindaca@comune.example" in result.output
    user = db.session.scalar(sa.select(User).where(User.email == "sindaca@comune.example"))
    assert user is not None
    assert user.role == UserRole.ADMIN
    assert user.password_hash.startswith("$argon2id$")
    entry = db.session.scalar(sa.select(AuditEntry))
    assert entry is not None
    console = f"cli:{getpass.getuser()}"  # the OS account that ran the command
    assert (entry.action, entry.actor, entry.target) == ("user.create", console, f"user:{user.id}")


def test_create_with_hidden_prompt_asks_twice(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["users", "create", "--email", "redazione@consorzio.example", "--role", "editor"],
        input=f"{GOOD}\n{GOOD}\n",
    )
    assert result.exit_code == 0, result.output
    assert GOOD not in result.output  # hidden
    assert result.output.count("Password") == 1
    assert "Repeat for confirmation" in result.output


def test_mismatched_confirmation_is_asked_again(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["users", "create", "--email", "a@consorzio.example", "--role", "editor"],
        input=f"{GOOD}\nsomething-else-entirely\n",
    )
    assert result.exit_code != 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_duplicate_and_weak_passwords_are_one_line_errors(runner: FlaskCliRunner) -> None:
    args = [
        "users",
        "create",
        "--email",
        "a@consorzio.example",
        "--role",
        "editor",
        "--password-stdin",
    ]
    assert runner.invoke(args=args, input=GOOD + "\n").exit_code == 0
    duplicate = runner.invoke(args=args, input=GOOD + "\n")
    assert duplicate.exit_code == 1
    assert (
        duplicate.output.strip() == "Error: a user with e-mail a@consorzio.example already exists"
    )
    weak = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "b@consorzio.example",
            "--role",
            "editor",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert weak.exit_code == 1
    assert weak.output.strip() == "Error: password too short: at least 12 characters"
    bad_role = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "c@consorzio.example",
            "--role",
            "owner",
            "--password-stdin",
        ],
        input=GOOD + "\n",
    )
    assert bad_role.exit_code == 2
    assert "Traceback" not in bad_role.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_list_shows_role_and_lock(runner: FlaskCliRunner) -> None:
    runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "a@consorzio.example",
            "--role",
            "editor",
            "--password-stdin",
        ],
        input=GOOD + "\n",
    )
    result = runner.invoke(args=["users", "list"])
    assert result.output.strip() == "a@consorzio.example\teditor\tactive"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)
