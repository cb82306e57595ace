"""Helpers shared by the domains' commands: one-line errors and reading user-named files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from newsletter.exceptions import NewsletterError, ValidationError


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Expected failures become ``Error: ...`` and exit 1 instead of a traceback."""
    try:
        yield
    except NewsletterError as exc:
        raise click.ClickException(exc.message) from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise click.ClickException(f"database unavailable: {reason}") from None
    except SQLAlchemyError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise click.ClickException(f"database error: {first_line or type(exc).__name__}") from None


class CommandGroup(AppGroup):
    """A command group whose commands report expected failures in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors():
            return super().invoke(ctx)


def read_text_file(path: str) -> str:
    """Read a user-named file, turning the usual mistakes into one-line errors."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValidationError(f"{path}: is a directory") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ValidationError(f"{path}: {exc.strerror}") from None
