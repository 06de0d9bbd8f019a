#!/bin/sh
# tools/services.sh start|stop|status: a throwaway PostgreSQL and redis-server on loopback for
# the tests. start writes their URLs to build/services.env (sourced by tests); stop stops only
# what start started (by the pid files it wrote) and removes its temp directory.
# tools/services.sh pg-stop|pg-start: the tests' outage of that PostgreSQL (same port, same data).
set -e
cd "$(dirname "$0")/.."
ENV_FILE=${SERVICES_ENV:-build/services.env}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pg_start() {
	runuser -u postgres -- "$PGBIN/pg_ctl" -w -t 30 -D "$1/pg/data" -l "$1/pg/log" \
		-o "-p $2 -c listen_addresses=127.0.0.1 -k $1/pg -c max_connections=100" \
		start >/dev/null || { cat "$1/pg/log" >&2; exit 1; }
}

# pg-stop / pg-start on the running pair (for outage tests).
pg_outage() {
	[ -f "$ENV_FILE" ] || { echo "services: not running" >&2; exit 1; }
	dir=$(sed -n 's/^XMPPD_SERVICES_DIR=//p' "$ENV_FILE")
	port=$(sed -n 's/^XMPPD_TEST_PG_PORT=//p' "$ENV_FILE")
	case "$dir" in /tmp/xmppd-services.*) ;; *) echo "services: bad $ENV_FILE" >&2; exit 1 ;; esac
	if [ "$1" = stop ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -w -t 30 -D "$dir/pg/data" -m fast stop >/dev/null
	else
		pg_start "$dir" "$port"
	fi
}

start() {
	if [ -f "$ENV_FILE" ]; then
		dir=$(sed -n 's/^XMPPD_SERVICES_DIR=//p' "$ENV_FILE")
		if [ -f "$dir/pg/data/postmaster.pid" ] && [ -f "$dir/redis/pid" ] &&
			kill -0 "$(cat "$dir/redis/pid")" 2>/dev/null; then
			echo "services: already running ($ENV_FILE)"
			exit 0
		fi
		stop
	fi
	[ -x "$PGBIN/pg_ctl" ] && command -v redis-server >/dev/null || {
		echo "services: postgresql and redis-server are needed (make deps)" >&2
		exit 1
	}
	mkdir -p "$(dirname "$ENV_FILE")"
	dir=$(mktemp -d /tmp/xmppd-services.XXXXXX)
	chmod 755 "$dir"
	mkdir "$dir/pg" "$dir/redis"
	chown postgres "$dir/pg"
	pgport=$(free_port)
	rport=$(free_port)
	# The env file first: stop can clean up even if a start below fails half-way.
	cat >"$ENV_FILE" <<EOT
XMPPD_SERVICES_DIR=$dir
XMPPD_TEST_PG_PORT=$pgport
XMPPD_TEST_POSTGRESQL=host=127.0.0.1 port=$pgport user=postgres dbname=xmppd_test connect_timeout=5
XMPPD_TEST_REDIS=redis://127.0.0.1:$rport/0
EOT
	runuser -u postgres -- "$PGBIN/initdb" -A trust -U postgres -D "$dir/pg/data" \
		>"$dir/pg/initdb.log" 2>&1 || { cat "$dir/pg/initdb.log" >&2; exit 1; }
	pg_start "$dir" "$pgport"
	runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$pgport" -U postgres xmppd_test
	redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --daemonize yes \
		--pidfile "$dir/redis/pid" --logfile "$dir/redis/log" --dir "$dir/redis"
	i=0
	until redis-cli -h 127.0.0.1 -p "$rport" ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 50 ] || { echo "services: redis did not start" >&2; exit 1; }
		sleep 0.1
	done
	echo "services: postgresql on 127.0.0.1:$pgport, redis on 127.0.0.1:$rport ($ENV_FILE)"
}

stop() {
	[ -f "$ENV_FILE" ] || exit 0
	dir=$(sed -n 's/^XMPPD_SERVICES_DIR=//p' "$ENV_FILE")
	case "$dir" in /tmp/xmppd-services.*) ;; *) echo "services: bad $ENV_FILE" >&2; exit 1 ;; esac
	if [ -f "$dir/pg/data/postmaster.pid" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -w -t 30 -D "$dir/pg/data" -m fast stop >/dev/null || true
	fi
	if [ -f "$dir/redis/pid" ]; then
		pid=$(cat "$dir/redis/pid")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
	fi
	rm -rf "$dir" "$ENV_FILE"
	echo "services: stopped"
}

case "$1" in
start) start ;;
stop) stop ;;
status) [ -f "$ENV_FILE" ] && cat "$ENV_FILE" || echo "services: not running" ;;
pg-stop) pg_outage stop ;;
pg-start) pg_outage start ;;
*) echo "usage: $0 start|stop|status|pg-stop|pg-start" >&2; exit 2 ;;
esac
