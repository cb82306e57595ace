from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask

from newsletter.exceptions import ExpiredToken, InvalidToken
from newsletter.subscriptions.tokens import Purpose, make_token, read_token


def test_round_trip_per_purpose(app: Flask) -> None:
    for purpose in Purpose:
        claim = read_token(purpose, make_token(purpose, 42, "k3y"))
        assert (claim.subscriber_id, claim.link_key) == (42, "k3y")


def test_cross_purpose_tokens_are_rejected(app: Flask) -> None:
    token = make_token(Purpose.PREFERENCES, 7, "k")
    for other in (Purpose.CONFIRM, Purpose.UNSUBSCRIBE, Purpose.EXPORT):
        with pytest.raises(InvalidToken, match="not valid"):
            read_token(other, token)


def test_forged_tokens_are_rejected(app: Flask) -> None:
    token = make_token(Purpose.UNSUBSCRIBE, 7, "k")
    with pytest.raises(InvalidToken):
        read_token(Purpose.UNSUBSCRIBE, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    with pytest.raises(InvalidToken):
        read_token(Purpose.UNSUBSCRIBE, "not-a-token")


def test_confirm_expires_but_unsubscribe_does_not(app: Flask) -> None:
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        confirm = make_token(Purpose.CONFIRM, 3, "k")
        unsubscribe = make_token(Purpose.UNSUBSCRIBE, 3, "k")
    later = start + timedelta(seconds=app.config["CONFIRM_TOKEN_MAX_AGE"] + 5)
    with time_machine.travel(later, tick=False):
        with pytest.raises(InvalidToken, match="expired"):
            read_token(Purpose.CONFIRM, confirm)
        assert read_token(Purpose.UNSUBSCRIBE, unsubscribe).subscriber_id == 3


def test_expiry_is_a_kind_of_error_not_a_word_in_its_message(app: Flask) -> None:
    """The bad-link page offers a new link for an expired one: it asks the exception's type."""
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        confirm = make_token(Purpose.CONFIRM, 3, "k")
    later = start + timedelta(seconds=app.config["CONFIRM_TOKEN_MAX_AGE"] + 5)
    with time_machine.travel(later, tick=False), pytest.raises(ExpiredToken):
        read_token(Purpose.CONFIRM, confirm)
    with pytest.raises(InvalidToken) as forged:
        read_token(Purpose.CONFIRM, confirm[:-2] + ("AA" if confirm[-2:] != "AA" else "BB"))
    assert not isinstance(forged.value, ExpiredToken)
