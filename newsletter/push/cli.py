"""``newsletter push keys [--force]``."""

from __future__ import annotations

import click
from flask import current_app

from newsletter.cliutil import CommandGroup
from newsletter.push import vapid

push_cli = CommandGroup("push", help="Web Push: the VAPID key pair.")


@push_cli.command("keys")
@click.option(
    "--force", is_flag=True, help="Replace an existing key (browsers must subscribe again)."
)
def keys_command(force: bool) -> None:
    """Create the VAPID key pair in the instance folder; print the public key."""
    path = vapid.key_path(current_app.config, current_app.instance_path)
    private = vapid.create(path, force=force)
    click.echo(f"VAPID key written to {path}", err=True)
    click.echo(vapid.public_key_b64(private))
