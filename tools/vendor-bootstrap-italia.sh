#!/usr/bin/env bash
# Fetch the pinned bootstrap-italia npm package and copy the parts our pages use into
# newsletter/static/vendor/bootstrap-italia/. Node/npm are needed only here, never at run time:
# the copied files are committed. Run through `make vendor`.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${BOOTSTRAP_ITALIA_VERSION:-2.18.3}"
# npm's integrity of bootstrap-italia-2.18.3.tgz; a different tarball stops the copy.
INTEGRITY="${BOOTSTRAP_ITALIA_INTEGRITY:-sha512-dz4kNtcAYJF4OsWABT9m3CAT3NH5y6OzGG+v/VUGH1LjumIUmlP3GaQ+aHgtv5Vw3B5dS0jbHZiHGSfdu+DffA==}"
DEST=newsletter/static/vendor/bootstrap-italia

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "bootstrap-italia@${VERSION}" >/dev/null)
tarball="$work/bootstrap-italia-${VERSION}.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
    echo "Error: bootstrap-italia ${VERSION} tarball integrity $actual, expected $INTEGRITY" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work"
src="$work/package/dist"

rm -rf "$DEST"
mkdir -p "$DEST/css" "$DEST/svg" "$DEST/fonts/Titillium_Web" "$DEST/fonts/Lora" "$DEST/fonts/Roboto_Mono"
cp "$work/package/LICENSE" "$DEST/LICENSE"
cp "$src/css/bootstrap-italia.min.css" "$DEST/css/"
cp "$src/svg/sprites.svg" "$DEST/svg/"
# Only woff2 (every browser we support reads it) and only the weights our stylesheet declares.
for w in 300 regular italic 600 700; do
    cp "$src/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-${w}.woff2" "$DEST/fonts/Titillium_Web/"
done
cp "$src/fonts/Titillium_Web/OFL.txt" "$DEST/fonts/Titillium_Web/"
for w in regular 700; do
    cp "$src/fonts/Lora/lora-v20-latin-ext_latin-${w}.woff2" "$DEST/fonts/Lora/"
    cp "$src/fonts/Roboto_Mono/roboto-mono-v13-latin-ext_latin-${w}.woff2" "$DEST/fonts/Roboto_Mono/"
done
cp "$src/fonts/Lora/OFL.txt" "$DEST/fonts/Lora/"
cp "$src/fonts/Roboto_Mono/LICENSE.txt" "$DEST/fonts/Roboto_Mono/"

echo "$VERSION" > "$DEST/VERSION"
(cd "$DEST" && find . -type f ! -name SHA256SUMS ! -name VERSION | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
echo "bootstrap-italia ${VERSION} copied into ${DEST} ($(du -sh "$DEST" | cut -f1))"
