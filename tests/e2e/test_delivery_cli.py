"""``newsletter mailcapture`` as the demo runs it: a real process storing .eml files."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

from tests.e2e.conftest import clean_env, free_port, newsletter_process


def test_mailcapture_stores_what_it_receives(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path / "instance", NEWSLETTER_ENV="test")
    with newsletter_process(["mailcapture", "--port", str(port)], env) as proc:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=5)
                break
            except OSError:
                assert proc.poll() is None, "mailcapture exited early"
                assert time.monotonic() < deadline
                time.sleep(0.2)
        with client:
            client.sendmail("a@example.org", ["b@example.org"], "Subject: ciao\r\n\r\nx\r\n")
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    (stored,) = (tmp_path / "instance" / "mail").glob("*.eml")
    assert b"Subject: ciao" in stored.read_bytes()
