#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A hostile HTTP/1.1 server for the http I/O function's tests: each path
# misbehaves in one way. Listens on 127.0.0.1 only; prints its port.
#
#   tests/servers/hostile.py [PORT]     (0 or none: a free port)
#
# Paths:
#   /ok[/N]          200, N body bytes (default 5: "hello"), keep-alive
#   /count           200, body = number of TCP connections accepted so far
#   /ok-then-close   200 that promises keep-alive, then closes the connection
#   /chunked         a valid chunked body "hello world"
#   /truncated       Content-Length 1000, 100 bytes, then close
#   /truncated-chunk a chunked body cut in the middle of a chunk
#   /bad-chunk       chunk size "zz"
#   /huge-chunk      chunk size with 20 hex digits
#   /chunk-overrun   chunk data longer than its size
#   /big-header      10 MB of header lines, never an empty line
#   /endless         no Content-Length, body bytes forever
#   /endless-chunks  chunks forever
#   /slow-drip       a valid response, one byte every 0.2 s
#   /silent          reads the request, never answers
#   /no-read         reads the request's head but never its body
#   /reset           reads the request, resets the connection (RST)
#   /close           reads the request, closes without a byte
#   /garbage         something that is not HTTP
#   /cl-te           both Content-Length and Transfer-Encoding
#   /bad-length      Content-Length: 12abc
#   /interim         100 Continue, then 200
#   /claim-big       Content-Length: 50000000, 10 bytes, then silence
#   /flaky/HOW/K/F/N fails the first F requests for key K, then 200 with N
#                    body bytes as /ok/N; HOW: reset (RST after reading the
#                    request), close (no byte), 503 (a 503 with a body),
#                    cut (headers and half the body, then close)
#   /tries/K         200, body = requests seen so far for key K of /flaky
#   /pass/K/N        200 with N body bytes as /ok/N, counted for key K
#   /gate/K/M/N      200 with N body bytes as /ok/N, held until M /pass/K
#                    responses were sent (or 10 s passed): a response that
#                    comes only after the ones behind it
#   /delay/K/MS/N    200 with N body bytes as /ok/N, MS milliseconds after
#                    the request came (a server far away), counted for key K
#   /most/K          200, body = the most /delay/K requests waiting at once
import os
import socket
import socketserver
import struct
import sys
import threading
import time

accepted = 0
lock = threading.Lock()
tries = {}  # /flaky key -> requests seen
passed = {}  # /pass key -> responses sent
passed_cv = threading.Condition(lock)
waiting = {}  # /delay key -> requests waiting now
most = {}  # /delay key -> the most waiting at once


def read_request(f):
    """The request line and headers; None at EOF. Bodies are skipped."""
    line = f.readline(65536)
    if not line:
        return None
    length = 0
    while True:
        h = f.readline(65536)
        if not h or h in (b"\r\n", b"\n"):
            break
        name, _, value = h.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    parts = line.split()
    path = parts[1].decode() if len(parts) > 1 else "/"
    if length and not path.endswith("/no-read"):
        f.read(length)
    return path


def send(sock, data):
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        global accepted
        with lock:
            accepted += 1
        s = self.request
        f = s.makefile("rb")
        while True:
            path = read_request(f)
            if path is None:
                return
            if path.startswith("http://"):
                path = "/" + path.split("/", 3)[3]
            if not self.respond(s, path):
                return

    def reset(self, s):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        # Close now, before socketserver's shutdown(SHUT_WR) sends a FIN.
        os.close(s.detach())
        return False

    def respond(self, s, path):
        if path.startswith("/flaky/"):
            how, key, fails, n = path.split("/")[2:6]
            with lock:
                seen = tries.get(key, 0) + 1
                tries[key] = seen
            if seen > int(fails):
                path = "/ok/" + n
            elif how == "reset":
                return self.reset(s)
            elif how == "close":
                return False
            elif how == "503":
                body = b"try again later"
                return send(s, b"HTTP/1.1 503 Service Unavailable\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(body) + body)
            elif how == "cut":
                send(s, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                     % int(n) + b"x" * (int(n) // 2))
                return False
        if path.startswith("/delay/"):
            key, ms, n = path.split("/")[2:5]
            with lock:
                waiting[key] = waiting.get(key, 0) + 1
                most[key] = max(most.get(key, 0), waiting[key])
            time.sleep(int(ms) / 1000)
            with lock:
                waiting[key] -= 1
            path = "/ok/" + n
        if path.startswith("/most/"):
            with lock:
                body = b"%d" % most.get(path[6:], 0)
            return send(s, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
        if path.startswith("/gate/"):
            key, m, n = path.split("/")[2:5]
            with passed_cv:
                passed_cv.wait_for(lambda: passed.get(key, 0) >= int(m), 10)
            path = "/ok/" + n
        elif path.startswith("/pass/"):
            key, n = path.split("/")[2:4]
            ok = self.respond(s, "/ok/" + n)
            with passed_cv:
                passed[key] = passed.get(key, 0) + 1
                passed_cv.notify_all()
            return ok
        if path.startswith("/tries/"):
            with lock:
                body = b"%d" % tries.get(path[7:], 0)
            return send(s, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
        if path == "/ok" or path.startswith("/ok/"):
            n = int(path[4:]) if path.startswith("/ok/") else 5
            body = (b"hello" * (n // 5 + 1))[:n]
            return send(s, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
        if path == "/ok-then-close":
            send(s, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            # Let the client take the connection back to its pool first.
            time.sleep(0.05)
            return False
        if path == "/count":
            body = b"%d" % accepted
            return send(s, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
        if path == "/chunked":
            return send(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                        b"\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"
                        b"X-Trailer: yes\r\n\r\n")
        if path == "/truncated":
            send(s, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                 + b"x" * 100)
            return False
        if path == "/truncated-chunk":
            send(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"10\r\nonly8byt")
            return False
        if path == "/bad-chunk":
            send(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"zz\r\nhello\r\n0\r\n\r\n")
            return False
        if path == "/huge-chunk":
            send(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"ffffffffffffffffffff\r\nhello\r\n")
            return False
        if path == "/chunk-overrun":
            send(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"3\r\nhello\r\n0\r\n\r\n")
            return False
        if path == "/big-header":
            send(s, b"HTTP/1.1 200 OK\r\n")
            line = b"X-Padding: " + b"a" * 1000 + b"\r\n"
            for _ in range(10 * 1024):
                if not send(s, line):
                    break
            return False
        if path == "/endless":
            send(s, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            block = b"e" * 65536
            while send(s, block):
                pass
            return False
        if path == "/endless-chunks":
            send(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            block = b"10000\r\n" + b"c" * 65536 + b"\r\n"
            while send(s, block):
                pass
            return False
        if path == "/slow-drip":
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + \
                    b"d" * 100:
                if not send(s, bytes([b])):
                    break
                time.sleep(0.2)
            return False
        if path == "/silent" or path == "/no-read":
            time.sleep(60)
            return False
        if path == "/reset":
            return self.reset(s)
        if path == "/close":
            return False
        if path == "/garbage":
            send(s, b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            return False
        if path == "/cl-te":
            send(s, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            return False
        if path == "/bad-length":
            send(s, b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello")
            return False
        if path == "/claim-big":
            send(s, b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n"
                 + b"0123456789")
            time.sleep(60)
            return False
        if path == "/interim":
            return send(s, b"HTTP/1.1 100 Continue\r\n\r\n"
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        send(s, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = Server(("127.0.0.1", port), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
