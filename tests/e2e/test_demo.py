"""`make run` runs `newsletter demo`: on a fresh instance folder a newcomer sees the whole thing.

The home page is served from a migrated SQLite database; a subscription made on the form is
confirmed from the mail the demo's own SMTP capture server received, sent by the demo's worker.
"""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3
import time
from pathlib import Path

import requests
from lxml import html

from tests.e2e.conftest import clean_env, free_port, newsletter_process, wait_for_http


def _csrf(page: str) -> str:
    return str(html.fromstring(page).xpath("//input[@name='csrf_token']/@value")[0])


def _wait_for_mail(folder: Path, to: str, timeout: float = 60) -> email.message.EmailMessage:
    """The first captured message to ``to`` (the demo's worker also sends the story's
    subscribers their digest of the day)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            if message["To"] == to:
                return message
        time.sleep(0.3)
    raise AssertionError(f"no mail captured in {folder} within {timeout}s")


def test_demo_serves_home_and_a_subscription_is_confirmed_from_captured_mail(
    tmp_path: Path,
) -> None:
    port, smtp_port = free_port(), free_port()
    instance = tmp_path / "instance"
    env = clean_env(instance)
    base = f"http://127.0.0.1:{port}"
    with newsletter_process(
        ["demo", "--port", str(port), "--smtp-port", str(smtp_port)], env
    ) as proc:
        wait_for_http(f"{base}/healthz", proc, timeout=180)  # migrations + the demo story
        home = requests.get(f"{base}/", timeout=10)
        assert home.status_code == 200
        assert '<html lang="it">' in home.text
        for name in ("Welfare", "Mobilità", "Energia", "Governance"):
            assert name in home.text
        key = requests.get(f"{base}/push/key", timeout=10)  # the demo made its VAPID key
        assert key.status_code == 200
        assert len(key.json()["public_key"]) == 87  # a P-256 point, base64url

        browser = requests.Session()
        form = browser.get(f"{base}/subscribe", timeout=10)
        answer = browser.post(
            f"{base}/subscribe",
            data={
                "csrf_token": _csrf(form.text),
                "email": "cittadina@example.org",
                "topics": ["energy", "mobility"],
                "frequency": "weekly",
                "locale": "it",
                "consent": "1",
            },
            timeout=10,
        )
        assert answer.status_code == 200

        mail = _wait_for_mail(instance / "mail", "cittadina@example.org")
        assert mail["To"] == "cittadina@example.org"
        body = mail.get_body(("plain",))
        assert body is not None
        link = re.search(rf"{re.escape(base)}/confirm/\S+", body.get_content())
        assert link is not None, body.get_content()
        assert requests.get(f"{base}/demo/mail", timeout=10).status_code == 200

        confirm_page = browser.get(link.group(0), timeout=10)
        assert confirm_page.status_code == 200
        confirmed = browser.post(
            link.group(0), data={"csrf_token": _csrf(confirm_page.text)}, timeout=10
        )
        assert confirmed.status_code == 200

        proc.terminate()
        assert proc.wait(timeout=30) == 0
    with sqlite3.connect(instance / "newsletter.sqlite3") as conn:
        status = conn.execute(
            "SELECT status FROM subscriber WHERE email = 'cittadina@example.org'"
        ).fetchone()
        actions = conn.execute(
            "SELECT action FROM consent_event JOIN subscriber ON subscriber.id = subscriber_id"
            " WHERE email = 'cittadina@example.org' ORDER BY consent_event.id"
        ).fetchall()
        mayors = conn.execute("SELECT count(*) FROM subscriber WHERE role = 'mayor'").fetchone()
        editions = conn.execute("SELECT count(*) FROM digest WHERE kind = 'edition'").fetchone()
    assert status == ("active",)
    assert [a for (a,) in actions] == ["subscribe", "confirm"]
    assert mayors == (48,)  # the demo's story
    assert editions[0] >= 12  # six weeks, Italian and English
