"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1, and the signature check a
receiver makes with nothing but hmac and the shared secret. The `receiver_factory` fixture
(tests/jobs/conftest.py) makes them."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "test-webhook-secret"


class Receiver:
    """A local HTTP server answering each POST with the next status of `statuses` (last repeats)."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/ef?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def check_signature(request: dict) -> dict:
    """Verify like a receiver would, with nothing but hmac and the shared secret."""
    header = request["headers"]["X-EditFactory-Signature"]
    timestamp = request["headers"]["X-EditFactory-Timestamp"]
    parts = dict(p.split("=", 1) for p in header.split(","))
    assert parts["t"] == timestamp and abs(time.time() - int(timestamp)) < 300
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    return json.loads(request["body"])
