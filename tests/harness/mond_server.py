"""Stand-in ganeti-mond daemons for the live MonD tests.

Run inside a network namespace: ``python3 mond_server.py CONFIG.json``.
CONFIG maps an IP address to the behaviour of the daemon listening on
``ADDR:1815``, per collector name (the last path component of
``/1/report/<category>/<collector>``)::

    {"203.0.113.1": {"cpu-avg-load": {"status": 200, "body": "...",
                                      "delay": 0, "hang": 0}}}

``delay`` waits before answering; ``hang`` keeps the connection open
without a word for that many seconds, then closes it.  A collector
missing from the map answers 404, like ganeti-mond.  Prints ``ready``
once every socket listens, and exits by itself after ``--lifetime``
seconds (default 300) so that nothing outlives a test run.
"""
from __future__ import annotations

import http.server
import json
import socketserver
import sys
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    table: dict = {}

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 - the http.server API
        coll = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        spec = self.table.get(coll)
        if spec is None:
            spec = {"status": 404, "body": "Not found"}
        if spec.get("hang"):
            time.sleep(float(spec["hang"]))
            self.close_connection = True
            return
        if spec.get("delay"):
            time.sleep(float(spec["delay"]))
        body = spec.get("body", "").encode("utf-8")
        self.send_response(int(spec.get("status", 200)))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv) -> int:
    lifetime = 300.0
    args = list(argv)
    if "--lifetime" in args:
        i = args.index("--lifetime")
        lifetime = float(args[i + 1])
        del args[i:i + 2]
    with open(args[0]) as fh:
        config = json.load(fh)
    servers = []
    for addr, table in config.items():
        handler = type("H", (_Handler,), {"table": table})
        srv = _Server((addr, 1815), handler)
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("ready", flush=True)
    time.sleep(lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
