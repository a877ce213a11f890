#!/bin/sh
# SPDX-License-Identifier: MIT
# A private nginx for tests and benchmarks: prefix, config, pid and logs in
# DIR, static files from DIR/html, PUT and DELETE through ngx_http_dav_module,
# gzip (so chunked responses) under /gz/, listening on 127.0.0.1 only.
#
#   tests/servers/nginx.sh start DIR    prints the port once nginx accepts
#                                       ($PITH_NGINX_PORT, or a free one)
#   tests/servers/nginx.sh stop DIR     stops it and waits until it is gone
set -eu

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
dir=$(cd "$2" && pwd)

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

case "$1" in
start)
	command -v nginx >/dev/null || { echo "nginx not installed (tools/deps.sh test)" >&2; exit 1; }
	mkdir -p "$dir/html" "$dir/tmp" "$dir/logs"
	port=${PITH_NGINX_PORT:-$(free_port)}
	user=""
	[ "$(id -u)" -ne 0 ] || user="user root;"
	cat >"$dir/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	keepalive_timeout 60s;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$port;
		root $dir/html;
		location / {
			dav_methods PUT DELETE;
			create_full_put_path on;
			client_max_body_size 256m;
		}
		location /gz/ {
			alias $dir/html/;
			gzip on;
			gzip_min_length 0;
			gzip_types *;
		}
	}
}
EOF
	nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
		</dev/null >"$dir/logs/stdout.log" 2>&1 &
	i=0
	while ! python3 -c "import socket,sys
socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 $! 2>/dev/null; then
			echo "nginx did not start:" >&2
			cat "$dir/logs/error.log" >&2 || true
			exit 1
		fi
		sleep 0.05
	done
	echo "$port"
	;;
stop)
	[ -f "$dir/nginx.pid" ] || exit 0
	pid=$(cat "$dir/nginx.pid")
	kill -TERM "$pid" 2>/dev/null || exit 0
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		i=$((i + 1))
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	;;
*)
	usage
	;;
esac
