"""``newsletter worker`` as an operator runs it: starts the scheduler, stops cleanly on SIGTERM."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.e2e.conftest import clean_env, newsletter_process


def _lines(proc: subprocess.Popen[bytes]) -> queue.Queue[str]:
    found: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            found.put(raw.decode(errors="replace"))

    threading.Thread(target=pump, daemon=True).start()
    return found


def _wait_for(lines: queue.Queue[str], text: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} not seen within {timeout}s:\n{''.join(seen)}")


def test_worker_starts_its_jobs_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "instance")
    subprocess.run(
        [sys.executable, "-m", "newsletter.cli", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with newsletter_process(["worker"], env) as proc:
        lines = _lines(proc)
        started = "".join(_wait_for(lines, "worker started", 60))
        for job in ("digests.daily", "digests.weekly", "digests.immediate"):
            assert job in started
        assert "catch-up digests.weekly" in started  # a fresh worker builds the due period
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        stopping = "".join(_wait_for(lines, "worker stopped", 10))
        assert "waiting for running jobs" in stopping
    assert "Traceback" not in started
