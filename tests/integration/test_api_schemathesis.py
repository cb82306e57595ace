"""OpenAPI-driven fuzzing of /api/v1 with schemathesis: no 500, responses match the document.

Every operation gets positive and negative examples (schemathesis' default generation modes)
and every built-in check, against the Flask app through WSGI with a valid token.

An alert's times must lie ahead (and the expiry after the start), which no JSON Schema can
say: in the alert bodies, a generated date-time keeps everything but its year, moved to
2992 (start) and 2996 (expiry), both leap years so that 29 February stays a real day. The
service's time rules have tests of their own (test_api_alerts.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from newsletter.reference import service as reference

EXAMPLES_PER_OPERATION = 60
FUTURE_YEARS = {"starts_at": "2992", "expires_at": "2996"}
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}.*")


def _ahead(case: Any) -> None:
    """Date-times of an alert body moved into the future, all else as generated."""
    if not case.path.startswith("/api/v1/alerts") or not isinstance(case.body, dict):
        return
    for name, year in FUTURE_YEARS.items():
        value = case.body.get(name)
        if isinstance(value, str) and _DATE_TIME.fullmatch(value):
            case.body[name] = year + value[4:]


def _fuzz(operation: Any, token: str) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        _ahead(case)
        case.call_and_validate()

    return run


@pytest.mark.slow
def test_api_survives_schemathesis(app: Flask, api_token: str) -> None:
    reference.import_bundled_municipalities()  # so articles also get municipality mentions
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} == {
        "GET /api/v1/topics",
        "GET /api/v1/articles",
        "POST /api/v1/articles",
        "POST /api/v1/subscribers",
        "POST /api/v1/alerts",
        "GET /api/v1/alerts",
        "GET /api/v1/alerts/{id}",
        "POST /api/v1/alerts/{id}/update",
        "POST /api/v1/alerts/{id}/cancel",
    }
    failures: list[str] = []
    for operation in operations:
        try:
            _fuzz(operation, api_token)()
        except Exception as exc:  # collect every operation's failures, then fail once
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
