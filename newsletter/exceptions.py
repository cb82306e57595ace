"""The few errors services raise; views and the CLI turn them into 4xx JSON or one line."""

from __future__ import annotations

from typing import Any


class NewsletterError(Exception):
    """Base for expected failures: the message is safe to show to the person who caused it."""

    status_code = 400

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigurationError(NewsletterError):
    status_code = 500


class ValidationError(NewsletterError):
    """Input that does not fit: ``details`` maps field names to messages."""

    status_code = 422


class NotFound(NewsletterError):
    status_code = 404


class Conflict(NewsletterError):
    status_code = 409


class InvalidToken(NewsletterError):
    """A signed link that is forged, expired or meant for another purpose."""

    status_code = 400


class ExpiredToken(InvalidToken):
    """A genuine link past its age (confirm, export): the page offers to ask for a new one."""


class Unauthorized(NewsletterError):
    status_code = 401


class Forbidden(NewsletterError):
    status_code = 403


class TransportError(NewsletterError):
    """The relay could not be reached or dropped the connection: temporary, retry later."""

    status_code = 503
