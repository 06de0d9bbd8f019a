#!/bin/sh
# Creates a self-signed certificate for a host under DIR unless one exists: DIR/HOST.pem, DIR/HOST.key.
set -e
dir=$1 host=$2
[ -n "$dir" ] && [ -n "$host" ] || { echo "usage: mkcert.sh DIR HOST" >&2; exit 2; }
[ -f "$dir/$host.pem" ] && [ -f "$dir/$host.key" ] && exit 0
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$host" \
	-addext "subjectAltName=DNS:$host,DNS:*.$host" \
	-keyout "$dir/$host.key" -out "$dir/$host.pem" 2>/dev/null
chmod 600 "$dir/$host.key"
chmod 644 "$dir/$host.pem"
echo "mkcert: self-signed certificate for $host in $dir"
