"""``newsletter token create NAME`` (and revoke, list)."""

from __future__ import annotations

import click

from newsletter.api import service
from newsletter.audit import Actor
from newsletter.cliutil import CommandGroup

token_cli = CommandGroup("token", help="API tokens for the CMS and other programs.")


@token_cli.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(service.SCOPES, case_sensitive=False),
    help="What the token may do (repeatable; default: articles). "
    "subscribers: POST /api/v1/subscribers; alerts: POST /api/v1/alerts.",
)
def create_command(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token; it is printed once, alone on the last line. Only its hash is kept."""
    record, token = service.create_token(name, list(scopes), actor=Actor.console())
    click.echo(
        f"token {record.name!r} created for source {record.name!r} "
        f"with scope(s) {', '.join(record.scope_list)}; keep it secret:"
    )
    click.echo(token)


@token_cli.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    record = service.revoke_token(name, actor=Actor.console())
    click.echo(f"token {record.name!r} revoked")


@token_cli.command("list")
def list_command() -> None:
    """Token names, prefixes and state (never the tokens themselves)."""
    for record in service.list_tokens():
        state = "revoked" if record.revoked_at else "active"
        used = record.last_used_at.isoformat(timespec="seconds") if record.last_used_at else "never"
        scopes = ",".join(record.scope_list)
        click.echo(f"{record.name}\t{record.prefix}…\t{scopes}\t{state}\tlast used {used}")
