"""Form and roster parsing: pure functions, no database."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from newsletter.exceptions import ValidationError
from newsletter.subscriptions.forms import read_preferences, read_subscribe
from newsletter.subscriptions.models import Frequency, Role
from newsletter.subscriptions.roster import RosterEntry, parse_roster_csv

TOPICS = {"welfare", "mobility", "energy", "governance"}


def test_a_complete_form_gives_a_normalised_request() -> None:
    form = MultiDict(
        [
            ("email", " Anna@Example.ORG "),
            ("topics", "energy"),
            ("topics", "sport"),
            ("topics", "energy"),
            ("frequency", "daily"),
            ("locale", "en"),
            ("consent", "1"),
        ]
    )
    state, request = read_subscribe(form, TOPICS, "it")
    assert state.errors == {}
    assert request is not None
    assert request.email == "anna@example.org"
    assert request.topics == ("energy",)
    assert (request.frequency, request.locale) == (Frequency.DAILY, "en")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "anna@", "topics": "welfare", "consent": "1"}, "email"),
        ({"email": "", "topics": "welfare", "consent": "1"}, "email"),
        ({"email": "anna@example.org", "consent": "1"}, "topics"),
        ({"email": "anna@example.org", "topics": "sport", "consent": "1"}, "topics"),
        ({"email": "anna@example.org", "topics": "welfare"}, "consent"),
        (
            {
                "email": "anna@example.org",
                "topics": "welfare",
                "consent": "1",
                "frequency": "hourly",
            },
            "frequency",
        ),
        (
            {"email": "anna@example.org", "topics": "welfare", "consent": "1", "locale": "de"},
            "locale",
        ),
    ],
)
def test_each_problem_is_reported_on_its_field(fields: dict[str, str], field: str) -> None:
    state, request = read_subscribe(MultiDict({"frequency": "weekly", **fields}), TOPICS, "it")
    assert request is None
    assert list(state.errors) == [field]


def test_the_page_language_is_the_default_language_of_the_mail() -> None:
    form = MultiDict(
        {"email": "a@example.org", "topics": "welfare", "consent": "1", "frequency": "weekly"}
    )
    _state, request = read_subscribe(form, TOPICS, "en")
    assert request is not None
    assert request.locale == "en"


def test_preferences_need_a_topic() -> None:
    state, prefs = read_preferences(
        MultiDict({"frequency": "weekly", "locale": "it"}), TOPICS, {"locale": "it"}
    )
    assert prefs is None
    assert list(state.errors) == ["topics"]


ROSTER = """email,role,municipality,topics,frequency,locale,name
sindaco@comune.example.org,mayor,Crema,welfare;mobility;energy;governance,weekly,it,Sindaco di Crema
Ufficio@Comune.example.org,official,Offanengo,energy,daily,en,
"""


def test_roster_rows_become_entries() -> None:
    entries = parse_roster_csv(ROSTER)
    assert entries == [
        RosterEntry(
            "sindaco@comune.example.org",
            Role.MAYOR,
            "Crema",
            ("welfare", "mobility", "energy", "governance"),
            Frequency.WEEKLY,
            "it",
            "Sindaco di Crema",
        ),
        RosterEntry(
            "ufficio@comune.example.org",
            Role.OFFICIAL,
            "Offanengo",
            ("energy",),
            Frequency.DAILY,
            "en",
            None,
        ),
    ]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("not-an-address,mayor,Crema,welfare,weekly,it,", "not a valid e-mail address"),
        ("a@example.org,king,Crema,welfare,weekly,it,", "role must be one of"),
        ("a@example.org,mayor,Crema,,weekly,it,", "at least one topic"),
        ("a@example.org,mayor,Crema,welfare,hourly,it,", "frequency must be one of"),
        ("a@example.org,mayor,Crema,welfare,weekly,fr,", "locale must be one of"),
        ("sindaco@comune.example.org,mayor,Crema,welfare,weekly,it,", "already on line 2"),
    ],
)
def test_the_first_bad_row_is_named_by_its_line(bad_row: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"^line 4: .*{message}") as raised:
        parse_roster_csv(ROSTER + bad_row + "\n")
    assert raised.value.details == {"line": 4}


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValidationError, match=r"line 1: .*frequency, locale"):
        parse_roster_csv("email,role,municipality,topics\n")


COMUNI = {"crema": "Crema", "offanengo": "Offanengo"}


def test_urgent_alerts_need_a_comune_and_the_box_stays_ticked() -> None:
    fields = {"email": "a@example.org", "topics": "welfare", "consent": "1", "alerts": "1"}
    state, request = read_subscribe(
        MultiDict({"frequency": "weekly", **fields}), TOPICS, "it", COMUNI
    )
    assert request is None
    assert list(state.errors) == ["alerts"]
    assert state.alerts  # shown ticked again: choosing a comune is the whole fix
    state, request = read_subscribe(
        MultiDict({"frequency": "weekly", "municipality": "Offanengo", **fields}),
        TOPICS,
        "it",
        COMUNI,
    )
    assert state.errors == {}
    assert request is not None
    assert (request.municipality, request.alerts) == ("offanengo", True)


def test_preferences_carry_alerts_and_the_same_rule() -> None:
    form = {"topics": "welfare", "frequency": "weekly", "locale": "it", "alerts": "1"}
    state, prefs = read_preferences(MultiDict(form), TOPICS, {"locale": "it"}, COMUNI)
    assert prefs is None
    assert list(state.errors) == ["alerts"]
    _state, prefs = read_preferences(
        MultiDict({**form, "municipality": "crema"}), TOPICS, {"locale": "it"}, COMUNI
    )
    assert prefs is not None
    assert prefs.alerts
    _state, prefs = read_preferences(
        MultiDict({**form, "municipality": "crema", "alerts": ""}), TOPICS, {"locale": "it"}, COMUNI
    )
    assert prefs is not None
    assert not prefs.alerts


def test_roster_alerts_default_by_role_and_say_no_explicitly() -> None:
    text = (
        "email,role,municipality,topics,frequency,locale,alerts\n"
        "m@example.org,mayor,Crema,welfare,weekly,it,\n"
        "n@example.org,mayor,Crema,welfare,weekly,it,no\n"
        "c@example.org,citizen,Crema,welfare,weekly,it,\n"
        "d@example.org,citizen,Crema,welfare,weekly,it,1\n"
    )
    entries = parse_roster_csv(text)
    assert [e.alerts_setting(new=True) for e in entries] == [True, False, False, True]
    # A known address keeps what it had when the row does not say.
    assert [e.alerts_setting(new=False) for e in entries] == [None, False, None, True]


def test_a_comune_with_its_alerts_alone_is_enough() -> None:
    """Alerts only: no topic, no comune's news; the request says no digest will follow."""
    fields = {"email": "a@example.org", "consent": "1", "frequency": "weekly", "alerts": "1"}
    state, request = read_subscribe(
        MultiDict({**fields, "municipality": "offanengo"}), TOPICS, "it", COMUNI
    )
    assert state.errors == {}
    assert request is not None
    assert (request.topics, request.municipality, request.alerts) == ((), "offanengo", True)
    assert request.alerts_only
    # Without the box, or without the comune, there is nothing to send: one error each.
    state, request = read_subscribe(
        MultiDict({**fields, "municipality": "offanengo", "alerts": ""}), TOPICS, "it", COMUNI
    )
    assert request is None
    assert list(state.errors) == ["topics"]
    state, request = read_subscribe(MultiDict(fields), TOPICS, "it", COMUNI)
    assert request is None
    assert list(state.errors) == ["alerts"]
    # With a topic or the comune's news, the alerts are not all they get.
    _state, request = read_subscribe(
        MultiDict({**fields, "municipality": "crema", "topics": "welfare"}), TOPICS, "it", COMUNI
    )
    assert request is not None
    assert not request.alerts_only


def test_preferences_may_keep_the_alerts_alone_but_not_nothing() -> None:
    form = {"frequency": "weekly", "locale": "it", "municipality": "crema"}
    _state, prefs = read_preferences(
        MultiDict({**form, "alerts": "1"}), TOPICS, {"locale": "it"}, COMUNI
    )
    assert prefs is not None
    assert (prefs.topics, prefs.alerts) == ((), True)
    state, prefs = read_preferences(MultiDict(form), TOPICS, {"locale": "it"}, COMUNI)
    assert prefs is None
    assert list(state.errors) == ["topics"]
    assert state.municipality == "crema"  # shown again as posted


def test_an_alerts_only_roster_row_is_an_entry() -> None:
    text = (
        "email,role,municipality,topics,frequency,locale,alerts\n"
        "a@example.org,citizen,Crema,,weekly,it,true\n"
    )
    [entry] = parse_roster_csv(text)
    assert (entry.topics, entry.alerts, entry.all_topics) == ((), True, False)
    with pytest.raises(ValidationError, match="line 2: give at least one topic"):
        parse_roster_csv(text.replace(",true\n", ",false\n"))
