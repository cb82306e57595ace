"""The console script as an operator meets it: one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NEWSLETTER = [sys.executable, "-m", "newsletter.cli"]


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")} | {
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        **env,
    }
    return subprocess.run(
        [*NEWSLETTER, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_db_upgrade_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "instance" / "newsletter.sqlite3").exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["municipalities", "import", "missing.csv"], {}, "Error: missing.csv: no such file"),
        (
            ["db", "upgrade"],
            {"NEWSLETTER_ENV": "production"},
            "Error: NEWSLETTER_SECRET_KEY must be set in production",
        ),
        (
            ["db", "upgrade"],
            {"NEWSLETTER_SMTP_SECURITY": "ssl"},
            "Error: NEWSLETTER_SMTP_SECURITY must be none, starttls or tls",
        ),
    ],
)
def test_expected_failures_are_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    if args[0] == "municipalities":
        assert run(["db", "upgrade"], tmp_path).returncode == 0
    result = run(args, tmp_path, **env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(message), result.stderr
