"""A receiver for Sesame's event callbacks (webhooks) that checks each one's signature before
trusting it. Standard library only.

    python webhook_receiver.py

then point a callback at it (CreateCallbackAddress with CallbackUrl http://<host>:<port>/).

Environment:
    SESAME_WEBHOOK_SECRET   the SigningSecret shown by the account's first CreateCallbackAddress
                            (or by RotateCallbackSecret)
    SESAME_WEBHOOK_HOST     address to listen on, default 127.0.0.1
    SESAME_WEBHOOK_PORT     port to listen on, default 8000

Each verified event is printed as one JSON line on stdout and answered 204; anything else is
answered 401 and not parsed. X-Sesame-Event-Id is the same on every retry of one event: use it to
drop duplicates (delivery is at least once).
"""

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["SESAME_WEBHOOK_SECRET"].encode()
TOLERANCE = 300  # seconds: refuse old (replayed) or future timestamps


def verify(timestamp: str, signature: str, body: bytes) -> bool:
    """X-Sesame-Signature is "v1=" + hex HMAC-SHA256(secret, timestamp + "." + raw body)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature.encode(), ("v1=" + expected).encode())


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verify(self.headers.get("X-Sesame-Timestamp", ""),
                      self.headers.get("X-Sesame-Signature", ""), body):
            print("rejected: bad signature", file=sys.stderr, flush=True)
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        event["_eventId"] = self.headers.get("X-Sesame-Event-Id")
        print(json.dumps(event), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # keep stdout for the events
        pass


host = os.environ.get("SESAME_WEBHOOK_HOST", "127.0.0.1")
port = int(os.environ.get("SESAME_WEBHOOK_PORT", "8000"))
print(f"listening on http://{host}:{port}/", file=sys.stderr, flush=True)
ThreadingHTTPServer((host, port), Handler).serve_forever()
