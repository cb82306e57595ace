"""Feed fetching under hostile servers: gzip bombs, drip feeds, redirect loops, huge bodies.

The servers are local (loopback) and scripted per test. The memory test runs the fetch in a child
process and compares its peak RSS before and after the bomb, so the number means something.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter.articles import feeds_import
from newsletter.articles.models import Article, Source
from newsletter.audit import Actor
from newsletter.extensions import db

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Comune</title><link>https://comune.example/</link>
<description>Notizie</description><item><guid>n-1</guid><title>Nuova pista ciclabile</title>
<link>https://comune.example/n/1</link><pubDate>Thu, 19 Nov 2026 08:00:00 +0100</pubDate>
<description>Da Crema a Ombriano.</description></item></channel></rss>"""

BOMB_SIZE = 1536 << 20  # 1.5 GiB once inflated
MB = 1024 * 1024

Handler = Callable[[BaseHTTPRequestHandler], None]


@contextlib.contextmanager
def serving(handle: Handler, host: str = "127.0.0.1") -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server answering every GET with ``handle``; yields (base URL, paths)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.path)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def gzip_bomb(size: int, chunk: int = 1 << 24) -> bytes:
    """A valid gzip member of ``size`` zero bytes, about 1/1000 of that: full flushes make
    every block identical, so it is built from one compressed block in seconds."""
    zeros = bytes(chunk)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(size // chunk):
        crc = zlib.crc32(zeros, crc)
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return head + block * (size // chunk) + end + struct.pack("<II", crc, size & 0xFFFFFFFF)


def send(handler: BaseHTTPRequestHandler, body: bytes, **headers: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


CHILD = r"""
import json, resource, sys
from newsletter import create_app
from newsletter.extensions import migrate

database, instance, small, bomb = sys.argv[1:5]
app = create_app({"ENV_NAME": "test", "DATABASE_URL": database, "INSTANCE_PATH": instance})

def status_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0

def peak_mb(reset):
    if reset:
        return status_mb("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def reset_peak():
    # Linux: the peak (VmHWM) starts again from the current RSS, so start-up and the
    # migrations, which may have peaked higher, cannot hide what the fetch takes.
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False

with app.app_context():
    migrate.upgrade()
    from newsletter.articles import feeds_import
    warm = feeds_import.fetch_source(feeds_import.source_for_url(small))  # loads everything
    reset = reset_peak()
    before = peak_mb(reset)
    # Protects the machine from a reader without limits: 1 GB more address space at most.
    limit = int(status_mb("VmSize") * 1024 * 1024) + (1 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        feeds_import.fetch_source(feeds_import.source_for_url(bomb))
        outcome = "imported"
    except feeds_import.FeedError as exc:
        outcome = exc.message
    except MemoryError:
        outcome = "MemoryError"
    after = peak_mb(reset)
print(json.dumps({"warm": warm.status, "reset": reset, "before": before, "after": after,
                  "outcome": outcome}))
"""


def test_gzip_bomb_raises_peak_memory_by_less_than_50_mb(tmp_path: Path) -> None:
    bomb = gzip_bomb(BOMB_SIZE)
    assert len(bomb) < 2 * MB  # 1.5 MB on the wire...
    small = zlib.compress(FEED, wbits=31)

    def handle(handler: BaseHTTPRequestHandler) -> None:
        body = bomb if handler.path == "/bomb.xml" else small
        send(handler, body, Content_Encoding="gzip")

    with serving(handle) as (base, seen):
        env = {**os.environ, "NEWSLETTER_FETCH_ALLOW_PRIVATE": "1"}
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                f"sqlite:///{tmp_path / 'bomb.sqlite3'}",
                str(tmp_path / "instance"),
                f"{base}/small.xml",
                f"{base}/bomb.xml",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen == ["/small.xml", "/bomb.xml"]
    assert result["warm"] == "ok"
    growth = result["after"] - result["before"]
    what = "peak RSS (VmHWM, reset before the fetch)" if result["reset"] else "ru_maxrss"
    print(f"{what}: {result['before']:.0f} MB -> {result['after']:.0f} MB (+{growth:.1f} MB)")
    assert growth < 50, result
    assert "larger than" in result["outcome"], result


def test_gzip_bomb_is_recorded_on_the_source(app: Flask) -> None:
    bomb = gzip_bomb(256 * MB)
    app.config["SOURCE_MAX_BYTES"] = 2 * MB
    with serving(lambda h: send(h, bomb, Content_Encoding="gzip")) as (base, _):
        source = feeds_import.add_source(f"{base}/feed.xml", "bomba", actor=Actor("tests"))
        with pytest.raises(feeds_import.FeedError, match="larger than 2097152 bytes once decoded"):
            feeds_import.fetch_source(source)
    db.session.expire_all()
    stored = db.session.get(Source, source.id)
    assert stored is not None
    assert stored.last_status == "error"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0


def test_gzip_feed_within_limits_is_imported(app: Flask) -> None:
    body = zlib.compress(FEED, wbits=31)
    with serving(lambda h: send(h, body, Content_Encoding="gzip")) as (base, _):
        result = feeds_import.fetch_source(
            feeds_import.add_source(f"{base}/feed.xml", actor=Actor("tests"))
        )
    assert result.counts.created == 1


def test_raw_bytes_are_capped_even_without_content_length(app: Flask) -> None:
    """A chunked answer that never ends is cut at the raw cap, not read to the end."""
    app.config["SOURCE_MAX_RAW_BYTES"] = 1 * MB
    app.config["SOURCE_MAX_BYTES"] = 50 * MB
    sent: list[int] = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        piece = b"<!--" + b"x" * 65536 + b"-->"
        for _ in range(2000):  # 130 MB if nobody hangs up
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent.append(len(piece))

    with serving(endless) as (base, _):
        source = feeds_import.add_source(f"{base}/feed.xml", actor=Actor("tests"))
        with pytest.raises(feeds_import.FeedError, match="larger than 1048576 bytes"):
            feeds_import.fetch_source(source)
    assert sum(sent) < 20 * MB  # the server was cut off early (socket buffers aside)


def test_announced_length_over_the_cap_is_refused_before_reading(app: Flask) -> None:
    app.config["SOURCE_MAX_RAW_BYTES"] = 1000

    def liar(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(10**12))
        handler.end_headers()
        handler.wfile.write(b"<rss")

    with (
        serving(liar) as (base, _),
        pytest.raises(feeds_import.FeedError, match="larger than 1000 bytes"),
    ):
        feeds_import.fetch_source(feeds_import.add_source(f"{base}/feed.xml", actor=Actor("tests")))


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_dripping_server_fails_within_the_deadline(app: Flask, phase: str) -> None:
    """One byte every second never trips the per-read timeout; the overall deadline stops it."""
    app.config["SOURCE_DEADLINE"] = 2.0
    app.config["SOURCE_READ_TIMEOUT"] = 20.0
    stop = threading.Event()

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        if phase == "body":
            handler.wfile.write(
                b"Content-Type: application/rss+xml\r\nContent-Length: 99999\r\n\r\n"
            )
        handler.wfile.flush()
        while not stop.wait(1.0):
            handler.wfile.write(b"X-Slow: y\r\n" if phase == "headers" else FEED[:1])
            handler.wfile.flush()

    try:
        with serving(drip) as (base, _):
            source = feeds_import.add_source(f"{base}/feed.xml", actor=Actor("tests"))
            started = time.monotonic()
            with pytest.raises(feeds_import.FeedError, match="time limit"):
                feeds_import.fetch_source(source)
            elapsed = time.monotonic() - started
            stop.set()
    finally:
        stop.set()
    assert elapsed < 4.0
    db.session.expire_all()
    stored = db.session.get(Source, source.id)
    assert stored is not None
    assert stored.last_status == "timeout"


def test_redirects_are_followed_up_to_the_limit(app: Flask) -> None:
    app.config["SOURCE_MAX_REDIRECTS"] = 3

    def loop(handler: BaseHTTPRequestHandler) -> None:
        step = int(handler.path.rsplit("/", 1)[-1] or 0)
        if step == 2 and "final" in handler.path:
            send(handler, FEED)
            return
        handler.send_response(302)
        handler.send_header("Location", f"/loop/{step + 1}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with serving(loop) as (base, seen):
        source = feeds_import.add_source(f"{base}/loop/0", "giro", actor=Actor("tests"))
        with pytest.raises(feeds_import.FeedError, match="more than 3 redirects"):
            feeds_import.fetch_source(source)
        assert seen == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]

    def two_hops(handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/final":
            send(handler, FEED)
            return
        handler.send_response(301)
        handler.send_header("Location", "/final" if handler.path == "/b" else "/b")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with serving(two_hops) as (base, seen):
        result = feeds_import.fetch_source(
            feeds_import.add_source(f"{base}/a", "due salti", actor=Actor("tests"))
        )
        assert seen == ["/a", "/b", "/final"]
    assert result.counts.created == 1


def test_deadline_and_limits_are_documented_settings(app: Flask) -> None:
    for name in ("SOURCE_MAX_RAW_BYTES", "SOURCE_DEADLINE", "SOURCE_MAX_REDIRECTS"):
        assert name in app.config
        assert f"NEWSLETTER_{name}" in Path("docs/deployment.md").read_text(encoding="utf-8")
