"""``newsletter users create|list``: admin-area accounts from the command line."""

from __future__ import annotations

import sys

import click

from newsletter.admin import auth, service
from newsletter.admin.models import UserRole
from newsletter.audit import Actor
from newsletter.cliutil import CommandGroup
from newsletter.db import utcnow
from newsletter.extensions import db

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
        click.echo(f"{user.email}\t{user.role}\t{state}")
