#!/usr/bin/env bash
# Lighthouse 12.2.3 (npm, pinned: 13 wants Node 22) with Debian's chromium over the pages people
# and officials use most, phone (Lighthouse's mobile emulation) and desktop, on a fresh demo
# database (the demo story: 48 mayors, 320 citizens, six editions). Prints a table of the
# accessibility, best-practices and performance scores; fails when accessibility or best
# practices is below 95 on any page.
#
#   bench/lighthouse.sh            # reports in bench/out/lighthouse/
#
# Knobs (environment): PORT=8765 MIN_SCORE=95
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${VENV:-$ROOT/.venv}/bin
PORT=${PORT:-8765}
MIN_SCORE=${MIN_SCORE:-95}
LH_VERSION=12.2.3
NODE_DIR=$ROOT/bench/out/node
OUT=$ROOT/bench/out/lighthouse
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}

if [ ! -x "$NODE_DIR/node_modules/.bin/lighthouse" ] \
    || [ "$("$NODE_DIR/node_modules/.bin/lighthouse" --version)" != "$LH_VERSION" ]; then
    echo "installing lighthouse@$LH_VERSION into $NODE_DIR" >&2
    npm install --prefix "$NODE_DIR" "lighthouse@$LH_VERSION" --no-audit --no-fund --loglevel=error
fi
LIGHTHOUSE=$NODE_DIR/node_modules/.bin/lighthouse

WORK=$(mktemp -d /tmp/bench-lighthouse.XXXXXX)
SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export NEWSLETTER_INSTANCE_PATH=$WORK/instance
export NEWSLETTER_BASE_URL=http://127.0.0.1:$PORT
# The demo's content (articles and story), without its processes.
"$BIN/python" - <<'EOF'
from newsletter import create_app
from newsletter.ops import demo

app = create_app()
with app.app_context():
    demo.prepare(app, load_content=True)
EOF
"$BIN/newsletter" serve --host 127.0.0.1 --port "$PORT" --workers 2 >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 240); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
    sleep 0.5
done

# Sign in as the demo administrator; Lighthouse sends the session cookie to the dashboard.
JAR=$WORK/cookies
PASSWORD=$(cat "$NEWSLETTER_INSTANCE_PATH/demo-admin.txt")
TOKEN=$(curl -fs -c "$JAR" "http://127.0.0.1:$PORT/admin/login" \
    | sed -n 's/.*name="csrf_token" type="hidden" value="\([^"]*\)".*/\1/p' | head -1)
curl -fs -b "$JAR" -c "$JAR" -o /dev/null \
    --data-urlencode "email=admin@demo.example" --data-urlencode "password=$PASSWORD" \
    --data-urlencode "csrf_token=$TOKEN" "http://127.0.0.1:$PORT/admin/login"
SESSION=$(awk '$6 == "session" {print $7}' "$JAR")
[ -n "$SESSION" ] || { echo "could not sign in to the admin area" >&2; exit 1; }

mkdir -p "$OUT"
PAGES=(
    "home /"
    "subscribe /subscribe"
    "topic /topics/energy"
    "archive /archive"
    "accessibility /accessibility"
    "dashboard /admin/"
)
FAILED=0
printf '%-14s %-8s %6s %6s %6s\n' page form a11y bp perf
for entry in "${PAGES[@]}"; do
    read -r name path <<<"$entry"
    for form in mobile desktop; do
        args=(--quiet --output=json --output-path="$OUT/$name-$form.json"
            --only-categories=accessibility,best-practices,performance
            --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-background-networking")
        [ "$form" = desktop ] && args+=(--preset=desktop)
        [ "$name" = dashboard ] && args+=(--extra-headers="{\"Cookie\": \"session=$SESSION\"}")
        "$LIGHTHOUSE" "http://127.0.0.1:$PORT$path" "${args[@]}" >/dev/null 2>"$WORK/lh.log" || {
            echo "lighthouse failed on $path ($form):" >&2; tail -5 "$WORK/lh.log" >&2; FAILED=1; continue; }
        read -r a11y bp perf < <("$BIN/python" - "$OUT/$name-$form.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
cats = report["categories"]
print(*(round(cats[c]["score"] * 100) for c in ("accessibility", "best-practices", "performance")))
EOF
)
        printf '%-14s %-8s %6s %6s %6s\n' "$name" "$form" "$a11y" "$bp" "$perf"
        if [ "$a11y" -lt "$MIN_SCORE" ] || [ "$bp" -lt "$MIN_SCORE" ]; then FAILED=1; fi
    done
done
echo "(machine shared with other work: performance numbers are pessimistic)"
exit $FAILED
