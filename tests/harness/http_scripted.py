"""A scripted raw HTTP server on 127.0.0.1 for the HTTP reader's tests.

The first path component of a request picks a script: raw bytes written
as they are (so that broken status lines, truncated bodies and bad chunks
can be served), optionally slowly, then the connection is closed.  With
a TLS server context, every connection speaks TLS.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Dict, Optional

GOOD = b'[]'


def _resp(status: str, body: bytes, headers: str = "") -> bytes:
    return (("HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n"
             % (status, len(body), headers)).encode() + body)


#: name -> bytes to send, or a callable(conn) doing the talking
SCRIPTS: Dict[str, object] = {
    "ok": _resp("200 OK", GOOD),
    "noreason": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n[]",
    "lowercase": b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
    "http10": b"HTTP/1.0 200 OK\r\n\r\n[]",
    "http12": b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\n[]",
    "continue": b"HTTP/1.1 100 Continue\r\n\r\n" + _resp("200 OK", GOOD),
    "e500": _resp("500 Internal Server Error", GOOD),
    "e404": _resp("404 Not Found", b'{"code": 404}'),
    "e400": _resp("400 Bad Request", b''),
    "e399": _resp("399 Odd", GOOD),
    "e302": _resp("302 Found", b'moved', "Location: /ok\r\n"),
    "e204": b"HTTP/1.1 204 No Content\r\n\r\n",
    "nothing": b"",
    "partialhead": b"HTTP/1.1 200 OK\r\nContent-Le",
    "statusonly": b"HTTP/1.1 200 OK\r\n",
    "partialbody": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]",
    "extrabody": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]garbage",
    "badlength": b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n[]",
    "chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"1\r\n[\r\n1\r\n]\r\n0\r\n\r\n"),
    "chunkcut": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\n[]"),
    "badchunk": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"ZZZ\r\nabc\r\n"),
    "garbage": b"\x00\x01\x02 not http at all\r\n\r\n",
    "h09": b"[]",
    "badstatus": b"HTTP/1.1 abc\r\n\r\n",
    "bigdeclared": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n[",
}


def _rapi(conn: socket.socket, path: str) -> None:
    """Ganeti's RAPI test data, by resource (``.../2/<resource>``)."""
    from tests.harness.refdiff import DATA
    res = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    try:
        body = (DATA / "rapi" / (res + ".json")).read_bytes()
    except OSError:
        body = b"{}"
    conn.sendall(_resp("200 OK", body))


def _drip(conn: socket.socket, path: str) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(100):
        conn.sendall(b" ")
        time.sleep(0.2)


def _silent(conn: socket.socket, path: str) -> None:
    time.sleep(10)


def _big_unlimited(conn: socket.socket, path: str) -> None:
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n[\"")
    chunk = b"a" * 65536
    for _ in range(2000):   # 128 MiB at most; the reader stops earlier
        conn.sendall(chunk)


SCRIPTS["rapi"] = _rapi
SCRIPTS["drip"] = _drip
SCRIPTS["silent"] = _silent
SCRIPTS["bigstream"] = _big_unlimited


class ScriptedServer:
    def __init__(self, tls_context=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.tls = tls_context
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,),
                             daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
                if data[:1] == b"\x16" and self.tls is None:
                    # a TLS hello to a plain server: refused in plain HTTP
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    return
            path = data.split(b" ", 2)[1].decode("latin-1")
            name = path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
            script: Optional[object] = SCRIPTS.get(name, SCRIPTS["ok"])
            if callable(script):
                script(conn, path)
            else:
                conn.sendall(script)  # type: ignore[arg-type]
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass


__all__ = ["ScriptedServer", "SCRIPTS"]
