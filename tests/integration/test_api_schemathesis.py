"""OpenAPI-driven fuzzing of /api/v1 with schemathesis: no 500, responses match the document.

Every operation gets positive and negative examples (schemathesis' default generation modes)
and every built-in check, against the Flask app through WSGI with a valid token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from newsletter.reference import service as reference

EXAMPLES_PER_OPERATION = 60


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
    }
    failures: list[str] = []
    for operation in operations:
        try:
            _fuzz(operation, api_token)()
        except Exception as exc:  # collect every operation's failures, then fail once
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
