"""The one rule of what a subscription must hold, and its JSON Schema form: the document
accepts exactly the bodies the rule accepts (checked with jsonschema-rs, which schemathesis
brings along)."""

from __future__ import annotations

import itertools

import jsonschema_rs
import pytest

from newsletter.subscriptions import rules


@pytest.mark.parametrize(
    ("topics", "municipality", "local_news", "alerts"),
    list(itertools.product([(), ("welfare",)], [False, True], [False, True], [False, True])),
)
def test_the_document_says_what_the_rule_says(
    topics: tuple[str, ...], municipality: bool, local_news: bool, alerts: bool
) -> None:
    body: dict[str, object] = {"topics": list(topics), "local_news": local_news, "alerts": alerts}
    if municipality:
        body["municipality"] = "Crema"
    expected = rules.has_choice(
        topics, municipality=municipality, local_news=local_news, alerts=alerts
    )
    valid = jsonschema_rs.Draft202012Validator({"anyOf": rules.json_schema_any_of()}).is_valid(body)
    assert valid is expected


def test_alerts_alone_give_no_digest_to_a_citizen_but_a_mayor_still_gets_one() -> None:
    assert rules.has_choice((), municipality=True, local_news=False, alerts=True)
    assert not rules.has_choice((), municipality=False, local_news=True, alerts=True)
    assert not rules.gets_a_digest((), institutional=False, municipality=True, local_news=False)
    assert rules.gets_a_digest((), institutional=True, municipality=True, local_news=False)
    assert rules.gets_a_digest((), institutional=False, municipality=True, local_news=True)
    assert rules.gets_a_digest(
        ("energy",), institutional=False, municipality=False, local_news=False
    )
