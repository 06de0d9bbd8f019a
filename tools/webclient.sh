#!/bin/sh
# make web: fetches the pinned Converse.js release from the npm registry (npm pack), checks the
# tarball against the integrity hash recorded here, and unpacks what the browser needs of its
# dist/ into build/web/dist/ next to our web/index.html and web/xmppd.js. Offline once the tarball is cached.
# Also installs the browser test's driver, playwright-core (no browsers: Debian's chromium is used).
set -eu
PLAYWRIGHT=1.65.1
VERSION=14.0.0
INTEGRITY=sha512-LFUg030jDalV47vI/vyVPqYPZfJYXFbubq8v0cFDe2zXNeeGEk3Up0Fj/WTzT6t+6do+cAIToy73eAj7RNDj2Q==

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CACHE=$BUILD/npm-cache
WEB=$BUILD/web
TGZ=$CACHE/converse.js-$VERSION.tgz

integrity() { printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

DRIVER=$BUILD/node
if ! grep -qs "\"version\": \"$PLAYWRIGHT\"" "$DRIVER/node_modules/playwright-core/package.json"; then
	command -v npm >/dev/null || { echo "webclient: npm is missing (make deps)" >&2; exit 1; }
	echo "webclient: installing playwright-core@$PLAYWRIGHT into $DRIVER"
	mkdir -p "$DRIVER"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix "$DRIVER" \
		"playwright-core@$PLAYWRIGHT" >/dev/null
fi

# Up to date: the unpacked version matches and our page is the current one.
if [ -f "$WEB/.version" ] && [ "$(cat "$WEB/.version")" = "$VERSION" ] &&
   cmp -s "$ROOT/web/index.html" "$WEB/index.html" && cmp -s "$ROOT/web/xmppd.js" "$WEB/xmppd.js"; then
	exit 0
fi

mkdir -p "$CACHE"
if [ ! -f "$TGZ" ] || [ "$(integrity "$TGZ")" != "$INTEGRITY" ]; then
	rm -f "$TGZ"
	command -v npm >/dev/null || { echo "webclient: npm is missing (make deps)" >&2; exit 1; }
	echo "webclient: fetching converse.js@$VERSION from the npm registry"
	(cd "$CACHE" && npm pack --silent "converse.js@$VERSION" --pack-destination "$CACHE" >/dev/null)
fi
got=$(integrity "$TGZ")
if [ "$got" != "$INTEGRITY" ]; then
	echo "webclient: $TGZ has integrity $got, want $INTEGRITY: refused" >&2
	rm -f "$TGZ"
	exit 1
fi

tmp=$(mktemp -d "$BUILD/web.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$TGZ" -C "$tmp" --no-same-owner --no-same-permissions package/dist package/LICENSE
# source maps and the unminified bundles are for developers: the worker holds files in memory
find "$tmp/package/dist" \( -name '*.map' -o -name 'converse.js' -o -name 'converse.css' \
	-o -name 'website.*' \) -type f -exec rm -f {} +
mkdir -p "$tmp/web"
mv "$tmp/package/dist" "$tmp/web/dist"
cp "$tmp/package/LICENSE" "$tmp/web/dist/LICENSE.txt"
cp "$ROOT/web/index.html" "$ROOT/web/xmppd.js" "$tmp/web/"
printf '%s\n' "$VERSION" > "$tmp/web/.version"
chmod -R a+rX "$tmp/web"
rm -rf "$WEB"
mv "$tmp/web" "$WEB"
echo "webclient: converse.js $VERSION in $WEB ($(du -sh "$WEB" | cut -f1))"
