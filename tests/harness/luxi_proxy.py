"""Record and replay Luxi conversations, to compare tools on identical data.

A live cluster's answers change from one query to the next (free memory of
the nodes, job ids), so two tools run one after the other do not see the
same cluster.  :class:`RecordingProxy` sits between a tool and the master's
socket and keeps every request and reply; :class:`ReplayServer` answers a
second tool with the recorded replies, request by request, so that the
reference and ours see byte-identical data.  The recorded requests also
give the submitted opcodes of an ``-X`` run (:func:`submitted_opcodes`).
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from typing import Dict, List, Optional, Tuple

EOM = b"\x03"


class _Server:
    """A threaded Unix-socket server on a fresh path."""

    def __init__(self):
        self._dir = tempfile.mkdtemp(prefix="luxi-")
        self.socket = os.path.join(self._dir, "luxi.sock")
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(self.socket)
        os.chmod(self.socket, 0o666)
        self._srv.listen(16)
        self._srv.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()
        self._conn_no = 0

    def __enter__(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        self._srv.close()
        try:
            os.unlink(self.socket)
            os.rmdir(self._dir)
        except OSError:
            pass

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._conn_no += 1
                no = self._conn_no
            t = threading.Thread(target=self._serve, args=(conn, no), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket, no: int) -> None:
        raise NotImplementedError


def _messages(sock: socket.socket, stop: threading.Event):
    buf = b""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        while EOM in buf:
            msg, buf = buf.split(EOM, 1)
            yield msg


class RecordingProxy(_Server):
    """Forward to ``target`` and record ``(conn, request, reply)``.

    With ``replay`` (exchanges of an earlier recording), a request recorded
    there is answered from it instead of being forwarded: a tool then plans
    on the very data another tool saw, and still executes on the live
    cluster."""

    def __init__(self, target: str, replay: Optional[List[Tuple[bytes, bytes]]] = None):
        super().__init__()
        self.target = target
        self.exchanges: List[Tuple[int, bytes, Optional[bytes]]] = []
        self._replay: Dict[str, bytes] = {}
        for req, rep in replay or []:
            self._replay.setdefault(_key(req), rep)

    def _serve(self, conn: socket.socket, no: int) -> None:
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            up.connect(self.target)
            up.settimeout(300)
            for msg in _messages(conn, self._stop):
                canned = self._replay.get(_key(msg))
                if canned is not None:
                    with self._lock:
                        self.exchanges.append((no, msg, canned))
                    conn.sendall(canned + EOM)
                    continue
                up.sendall(msg + EOM)
                reply = b""
                while EOM not in reply:
                    chunk = up.recv(1 << 16)
                    if not chunk:
                        break
                    reply += chunk
                rep = reply.split(EOM, 1)[0] if EOM in reply else None
                with self._lock:
                    self.exchanges.append((no, msg, rep))
                if rep is None:
                    break
                conn.sendall(rep + EOM)
        except OSError:
            pass
        finally:
            up.close()
            conn.close()

    @property
    def requests(self) -> List[dict]:
        return [json.loads(req) for _, req, _ in self.exchanges]

    def recorded(self) -> List[Tuple[bytes, bytes]]:
        return [(req, rep) for _, req, rep in self.exchanges if rep is not None]

    def replayer(self) -> "ReplayServer":
        return ReplayServer(self.recorded())


class ReplayServer(_Server):
    """Answer each request with the reply recorded for the same request."""

    def __init__(self, exchanges: List[Tuple[bytes, bytes]]):
        super().__init__()
        self._replies: Dict[str, List[bytes]] = {}
        for req, rep in exchanges:
            self._replies.setdefault(_key(req), []).append(rep)
        self.requests: List[dict] = []
        self.unknown: List[dict] = []

    def _serve(self, conn: socket.socket, no: int) -> None:
        try:
            for msg in _messages(conn, self._stop):
                req = json.loads(msg)
                with self._lock:
                    self.requests.append(req)
                    replies = self._replies.get(_key(msg))
                    if not replies:
                        self.unknown.append(req)
                        return
                    rep = replies[0] if len(replies) == 1 else replies.pop(0)
                conn.sendall(rep + EOM)
        except OSError:
            pass
        finally:
            conn.close()


def _key(raw: bytes) -> str:
    req = json.loads(raw)
    return json.dumps([req.get("method"), req.get("args")], sort_keys=True)


def submitted_opcodes(requests: List[dict]) -> List[List[dict]]:
    """The jobs of every SubmitManyJobs, reason timestamps blanked."""
    jobs = []
    for req in requests:
        if req.get("method") != "SubmitManyJobs":
            continue
        for job in req["args"][0]:
            ops = []
            for op in job:
                op = dict(op)
                op["reason"] = [[r[0], r[1], "TS"] for r in op.get("reason", [])]
                ops.append(op)
            jobs.append(ops)
    return jobs
