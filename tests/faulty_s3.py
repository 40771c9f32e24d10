"""A fault-injecting HTTP proxy in front of the moto S3 server: throttling (503 SlowDown),
access denied (403), and slow answers (for client timeouts), by rule, counted."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


@dataclass
class Rules:
    throttle_times: int = 0          # each object path: the first N requests answer 503 SlowDown
    forbidden_word: str = "forbidden"
    slow_word: str = "slow"          # first un-throttled GET of such a path waits slow_seconds
    slow_seconds: float = 3.0
    seen: dict = field(default_factory=dict)
    injected: dict = field(default_factory=lambda: {"throttled": 0, "forbidden": 0, "slowed": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(code: str, message: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()


class FaultyS3:
    def __init__(self, upstream: str, rules: Rules) -> None:
        self.upstream, self.rules = urlsplit(upstream), rules
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = unquote(urlsplit(self.path).path)
                is_object = path.count("/") >= 2 and not path.endswith("/")
                with proxy.rules.lock:
                    count = proxy.rules.seen.get((self.command, path), 0)
                    proxy.rules.seen[(self.command, path)] = count + 1
                if is_object and proxy.rules.forbidden_word in path:
                    proxy.rules.injected["forbidden"] += 1
                    return self._reply(403, _error("AccessDenied", "Access Denied"))
                if is_object and count < proxy.rules.throttle_times:
                    proxy.rules.injected["throttled"] += 1
                    return self._reply(503, _error("SlowDown", "Please reduce your request rate."))
                if is_object and self.command == "GET" and proxy.rules.slow_word in path and count == proxy.rules.throttle_times:
                    proxy.rules.injected["slowed"] += 1
                    time.sleep(proxy.rules.slow_seconds)
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def _reply(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultyS3":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
