#!/usr/bin/env bash
# Feed serving cost: `newsletter serve` with 1,000 articles vs a bare Flask app returning the same
# bytes under the same gunicorn settings (workers, threads, worker class), with wrk.
#
#   bench/feeds.sh                      # a fresh SQLite database in a temporary folder
#   bench/feeds.sh postgresql://postgres@127.0.0.1:5432/test   # a fresh database on that server
#
# Knobs (environment): ARTICLES=1000 DURATION=5s ROUNDS=3 CONNECTIONS=16 WRK_THREADS=2 WORKERS=2
# THREADS=4 (the last two are `newsletter serve`'s defaults).
# Targets: newsletter/bare >= 0.5 for 200s and >= 0.8 for 304s.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${VENV:-$ROOT/.venv}/bin
ARTICLES=${ARTICLES:-1000}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
WRK_THREADS=${WRK_THREADS:-2}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-4}

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)" >&2
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

WORK=$(mktemp -d /tmp/bench-feeds.XXXXXX)
PIDS=()
PG_URL=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$PG_URL" ]; then "$BIN/python" bench/feeds_support.py drop-postgres "$PG_URL" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 1 150); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
    echo "no answer from $1" >&2; return 1
}

export NEWSLETTER_INSTANCE_PATH=$WORK/instance
unset NEWSLETTER_WEBSUB_HUB_URL
if [ -n "${1:-}" ]; then
    PG_URL=$("$BIN/python" bench/feeds_support.py fresh-postgres "$1")
    export NEWSLETTER_DATABASE_URL=$PG_URL
    BACKEND=postgresql
else
    export NEWSLETTER_DATABASE_URL=sqlite:///$WORK/bench.sqlite3
    BACKEND=sqlite
fi
APP_PORT=$(free_port)
export NEWSLETTER_BASE_URL=http://127.0.0.1:$APP_PORT

"$BIN/newsletter" db upgrade >/dev/null 2>&1
"$BIN/python" bench/feeds_support.py load "$ARTICLES"

"$BIN/newsletter" serve --port "$APP_PORT" --workers "$WORKERS" --threads "$THREADS" \
    >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
APP=http://127.0.0.1:$APP_PORT/feeds/all.rss
# The same app asking the database on every request (FEEDS_VERSION_TTL=0), for comparison.
APP0_PORT=$(free_port)
NEWSLETTER_FEEDS_VERSION_TTL=0 "$BIN/newsletter" serve --port "$APP0_PORT" \
    --workers "$WORKERS" --threads "$THREADS" >"$WORK/serve0.log" 2>&1 &
PIDS+=($!)
APP0=http://127.0.0.1:$APP0_PORT/feeds/all.rss
wait_http "$APP"
wait_http "$APP0"

curl -fs -D "$WORK/headers" -o "$WORK/body" "$APP"
ETAG=$(grep -i '^etag:' "$WORK/headers" | cut -d' ' -f2- | tr -d '\r')
CTYPE=$(grep -i '^content-type:' "$WORK/headers" | cut -d' ' -f2- | tr -d '\r')
SIZE=$(wc -c <"$WORK/body")
test "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$APP")" = 304
test "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$APP0")" = 304

BARE_PORT=$(free_port)
"$BIN/python" bench/feeds_support.py bare "$BARE_PORT" "$WORK/body" "$ETAG" "$CTYPE" \
    "$WORKERS" "$THREADS" >"$WORK/bare.log" 2>&1 &
PIDS+=($!)
BARE=http://127.0.0.1:$BARE_PORT/feeds/all.rss
wait_http "$BARE"
cmp -s "$WORK/body" <(curl -fs "$BARE")

run_wrk() {  # URL [header]; prints requests/s, fails on any error or unexpected status
    local out
    if [ -n "${2:-}" ]; then
        out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "$2" "$1")
    else
        out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" "$1")
    fi
    echo "$out" >>"$WORK/wrk.log"
    if grep -qE 'Non-2xx or 3xx|Socket errors' <<<"$out"; then
        echo "$out" >&2; echo "wrk saw errors" >&2; return 1
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}

for url in "$APP" "$APP0" "$BARE"; do  # warm all (first render, connection pools, bytecode)
    wrk -t1 -c4 -d2s "$url" >/dev/null
done
# Rounds alternate the servers so that a neighbour's load spike hits all of them alike.
RESULTS=$WORK/results
for round in $(seq 1 "$ROUNDS"); do
    for pair in "app $APP" "app0 $APP0" "bare $BARE"; do
        set -- $pair
        echo "$1 200 $(run_wrk "$2")" >>"$RESULTS"
        echo "$1 304 $(run_wrk "$2" "If-None-Match: $ETAG")" >>"$RESULTS"
    done
done

echo "feeds bench: $ARTICLES articles on $BACKEND; /feeds/all.rss = $SIZE bytes; gunicorn gthread" \
     "$WORKERS workers x $THREADS threads; wrk -t$WRK_THREADS -c$CONNECTIONS; $ROUNDS rounds x" \
     "$DURATION per server and kind, alternated; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN/python" - "$RESULTS" <<'PY'
import statistics
import sys

runs: dict[tuple[str, str], list[float]] = {}
for line in open(sys.argv[1]):
    server, kind, rate = line.split()
    runs.setdefault((server, kind), []).append(float(rate))
mean = {key: statistics.mean(rates) for key, rates in runs.items()}
print(f"{'':<34}{'req/s (mean)':>14}{'per round':>26}{'ratio':>8}{'target':>9}")
failed = False
for kind, target in (("200", 0.5), ("304", 0.8)):
    bare = mean[("bare", kind)]
    for server, label in (
        ("bare", f"bare flask, cached bytes   {kind}"),
        ("app", f"newsletter serve            {kind}"),
        ("app0", f"  same, FEEDS_VERSION_TTL=0 {kind}"),
    ):
        rounds = " ".join(f"{r:.0f}" for r in runs[(server, kind)])
        ratio = mean[(server, kind)] / bare
        verdict = ""
        if server == "app":
            ok = ratio >= target
            failed |= not ok
            verdict = f">= {target} {'ok' if ok else 'MISSED'}"
        elif server == "app0":
            verdict = "(info)"
        print(f"{label:<34}{mean[(server, kind)]:>14.1f}{rounds:>26}{ratio:>8.2f}  {verdict}")
sys.exit(1 if failed else 0)
PY
