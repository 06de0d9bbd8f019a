#!/bin/sh
# make deps: installs the Debian packages that building and testing xmppd need, and nothing
# when they are all there already.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev libev-dev libnng-dev libssl-dev libexpat1-dev
libcap-dev libseccomp-dev libidn11-dev libpq-dev libhiredis-dev libmongoc-dev libcmocka-dev
openssl python3-slixmpp python3-pytest postgresql redis-server procps passwd chromium"
# Node.js may come from elsewhere with its own npm (Debian's npm conflicts with such builds):
# install Debian's only when there is no npm at all.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run 'make deps' as root)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
