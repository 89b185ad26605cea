"""A storage failure in the middle of an upload: an HTTP proxy on 127.0.0.1 in front of the S3
server that passes every request through except the parts of a multipart upload after the
first, which it answers 500 InternalError (as an overloaded store does). boto3 retries them,
gives up, and aborts the upload through the proxy, which lets that through."""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FAILURE = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue as boto3 asks for it

    def log_message(self, *args):  # quiet: a line per request otherwise
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _fails(self) -> bool:
        query = parse_qs(urlsplit(self.path).query)
        part = query.get("partNumber", ["0"])[0]
        if self.command == "PUT" and int(part) >= 2:
            self.server.failed += 1
            return True
        return False

    def _forward(self):
        body = self._body()
        if self._fails():
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(FAILURE)))
            self.end_headers()
            self.wfile.write(FAILURE)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


class FaultProxy:
    def __init__(self, upstream_endpoint: str):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.upstream = urlsplit(upstream_endpoint).netloc
        self._server.failed = 0
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def failed_parts(self) -> int:
        return self._server.failed

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
