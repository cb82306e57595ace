"""``newsletter users create|list|set-password|reset-totp|unlock``: admin-area accounts from
the command line."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa

from newsletter import audit
from newsletter.admin import auth, service, twofactor
from newsletter.admin.models import User, UserRole
from newsletter.audit import Actor
from newsletter.cliutil import CommandGroup
from newsletter.db import utcnow
from newsletter.extensions import db
from newsletter.subscriptions.models import normalize_email

users_cli = CommandGroup("users", help="Accounts of the admin area.")


@users_cli.command("create")
@click.option("--email", required=True, help="The person's e-mail address (their login).")
@click.option("--role", required=True, type=click.Choice([r.value for r in UserRole]))
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def create_command(email: str, role: str, password_stdin: bool) -> None:
    """Create an account; the password comes from a hidden prompt (asked twice) or stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = auth.create_user(email, role, password, actor=Actor.console())
    db.session.commit()
    click.echo(f"created {user.role} {user.email}")


@users_cli.command("list")
def list_command() -> None:
    """Accounts with their role and whether they are locked."""
    now = utcnow()
    for user in service.list_users():
        state = "active" if user.active else "inactive"
        if user.locked_until is not None and user.locked_until > now:
            state += f", locked until {user.locked_until.isoformat(timespec='seconds')}"
        if user.totp_secret:
            state += ", two-factor"
        click.echo(f"{user.email}\t{user.role}\t{state}")


def _user(email: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise click.ClickException(f"no account with e-mail {email}")
    return user


def _unlock(user: User) -> None:
    user.locked_until = None
    user.failed_logins = 0


def _commit_audited(user: User, action: str) -> None:
    """The console's change to an account, with its audit row, in one transaction."""
    audit.record(Actor.console(), action, f"user:{user.id}", {"email": user.email})
    db.session.commit()


@users_cli.command("set-password")
@click.option("--email", required=True, help="The account's e-mail address.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def set_password_command(email: str, password_stdin: bool) -> None:
    """A new password for an account; every session of it ends, and its lock is lifted."""
    user = _user(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    auth.set_password(user, password)
    _unlock(user)
    _commit_audited(user, "user.password_reset")
    click.echo(f"password changed for {user.email}; its sessions have ended")


@users_cli.command("reset-totp")
@click.option("--email", required=True, help="The account's e-mail address.")
def reset_totp_command(email: str) -> None:
    """Remove an account's second factor (a lost phone); it sets up a new one at next sign-in
    when required. Every session of the account ends."""
    user = _user(email)
    twofactor.disable(user)
    _commit_audited(user, "user.totp_reset")
    click.echo(f"two-factor login removed for {user.email}; its sessions have ended")


@users_cli.command("unlock")
@click.option("--email", required=True, help="The account's e-mail address.")
def unlock_command(email: str) -> None:
    """Lift a lock caused by failed sign-ins now."""
    user = _user(email)
    _unlock(user)
    _commit_audited(user, "user.unlock")
    click.echo(f"{user.email} unlocked")
