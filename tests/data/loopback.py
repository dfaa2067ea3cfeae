"""A loopback HTTP server for download tests: files by path, Range, ETag, dropped connections."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Served:
    """What the server holds and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    """URL path (``/host/path``) -> content."""
    drop_after: dict[str, int] = field(default_factory=dict)
    """URL path -> bytes sent before the connection is dropped (once)."""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    """(path, Range header) of every GET."""
    sent: dict[str, int] = field(default_factory=dict)
    """URL path -> body bytes sent in all."""
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    """URL path -> extra response headers (e.g. a ``Content-Encoding`` a server adds)."""
    base: str = ""


def _handler(served: Served) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            served.requests.append((path, self.headers.get("Range")))
            if path not in served.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = served.files[path]
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            start = 0
            wanted = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if wanted and (if_range is None or if_range == etag):
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.send_header("ETag", etag)
            for key, value in served.headers.get(path, {}).items():
                self.send_header(key, value)
            self.end_headers()
            drop = served.drop_after.pop(path, None)
            if drop is not None:
                chunk = chunk[:drop]
                self.close_connection = True
            self.wfile.write(chunk)
            self.wfile.flush()
            served.sent[path] = served.sent.get(path, 0) + len(chunk)

    return Handler


@contextmanager
def loopback() -> Iterator[Served]:
    """Serve ``Served.files`` on 127.0.0.1 (a free port) until the block ends."""
    served = Served()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
