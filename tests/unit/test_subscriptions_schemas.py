"""The subscriber row schema without a database: the address fast path agrees with
email-validator, CSV and JSON shapes give the same entry, and the OpenAPI document is the
schema classes' own."""

from __future__ import annotations

import string

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.api import openapi
from newsletter.articles.schemas import ArticleIn
from newsletter.exceptions import ValidationError
from newsletter.subscriptions import roster
from newsletter.subscriptions.schemas import Lookups, SubscriberIn, _plain, check_address

LOCAL = st.text(alphabet=string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-.", max_size=70)
LABEL = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=0, max_size=70)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)


@settings(max_examples=600, deadline=None)
@given(local=LOCAL, domain=DOMAIN)
def test_the_fast_path_accepts_only_what_email_validator_accepts(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    fast = _plain(address)
    if fast is None:
        return
    try:
        checked = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        pytest.fail(f"fast path accepted {address!r}, email-validator refuses it: {exc}")
    assert fast == checked


@pytest.mark.parametrize(
    "address",
    ["a..b@example.org", "a@localhost", "a@x.test", "a@-x.org", "a@x-.org", "a@1.2.3.4", "@x.org"],
)
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="e-mail address"):
        check_address(address)


def test_unicode_addresses_still_go_through_email_validator() -> None:
    assert check_address("Zoë@Università.it") == "zoë@università.it"


LOOKUPS = Lookups(topics=("welfare", "energy"), municipalities={"crema": "Crema"})


def test_a_csv_row_and_a_json_body_are_one_entry() -> None:
    text = (
        "email,role,municipality,topics,frequency,locale,name,consent_at,consent_source\n"
        "Maria@Example.org,Citizen,CREMA,energy;welfare,Daily,EN,Maria,"
        "2024-03-01T10:00:00+01:00,modulo\n"
    )
    [from_csv] = roster.parse_roster_csv(text, LOOKUPS)
    from_json = roster.parse_entry(
        {
            "email": "Maria@Example.org",
            "role": "citizen",
            "municipality": "crema",
            "topics": ["energy", "welfare"],
            "frequency": "daily",
            "locale": "en",
            "name": "Maria",
            "consent_at": "2024-03-01T10:00:00+01:00",
            "consent_source": "modulo",
        },
        LOOKUPS,
    )
    assert from_csv == from_json
    assert from_csv.municipality == "Crema"
    assert from_csv.has_consent


def test_errors_name_every_bad_field() -> None:
    with pytest.raises(ValidationError) as caught:
        roster.parse_entry(
            {"email": "x", "role": "king", "topics": ["sport"], "municipality": "Milano"}, LOOKUPS
        )
    assert set(caught.value.details) == {"email", "role", "topics", "municipality"}
    with pytest.raises(ValidationError) as caught:
        roster.parse_entry({"email": "a@example.org", "role": "mayor"}, LOOKUPS)
    assert caught.value.details == {"municipality": "required for a mayor"}


def test_the_document_is_generated_from_the_schema_classes() -> None:
    document = openapi.document(["welfare"], 50, "1", ["Crema"])
    schemas = document["components"]["schemas"]
    # Every declared field is in the document, with the table values filled in.
    assert set(schemas["SubscriberIn"]["properties"]) == set(SubscriberIn.model_fields)
    assert set(schemas["ArticleIn"]["properties"]) == set(ArticleIn.model_fields)
    assert schemas["SubscriberIn"]["properties"]["topics"]["items"] == {
        "type": "string",
        "enum": ["welfare"],
    }
    assert "x-vocabulary" not in str(document)
    post = document["paths"]["/api/v1/subscribers"]["post"]
    assert post["x-token-scope"] == "subscribers"
    assert {"403", "409", "422"} <= set(post["responses"])
    [limit] = [
        p
        for p in document["paths"]["/api/v1/articles"]["get"]["parameters"]
        if p["name"] == "limit"
    ]
    assert limit["schema"]["maximum"] == 50


def test_consent_source_is_blank_only_as_the_document_says() -> None:
    """The pattern's blanks are space, tab, CR, LF, FF, VT: a no-break space is text (the
    schemathesis test sent one and saw it refused)."""
    body = {"email": "a@example.org", "role": "official", "consent_at": "2024-03-01T10:00:00Z"}
    kept = SubscriberIn.model_validate({**body, "consent_source": "\u00a0sportello\u00a0"})
    assert kept.consent_source == "\u00a0sportello\u00a0"
    assert SubscriberIn.model_validate({**body, "consent_source": "\u00a0"}).consent_source
    with pytest.raises(ValueError, match="empty"):
        SubscriberIn.model_validate({**body, "consent_source": " \t\v"})


def test_consent_at_past_the_calendar_and_control_characters_are_field_errors() -> None:
    """Schemathesis found both: 0001-01-01T00:00+01:00 is before year 1 in UTC (was a 500), and
    a NUL in a name could not be stored by PostgreSQL (was a 500)."""
    body = {"email": "a@example.org", "role": "official", "consent_source": "sportello"}
    with pytest.raises(ValueError, match="not a real date and time"):
        SubscriberIn.model_validate({**body, "consent_at": "0001-01-01T00:00:00+01:00"})
    named = SubscriberIn.model_validate(
        {"email": "a@example.org", "role": "official", "name": "A\x00B\tC"}
    )
    assert named.name == "A\ufffdB\tC"
