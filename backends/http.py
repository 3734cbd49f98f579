"""One bounded, deadline-checked HTTP(S) GET for the RAPI and MonD backends.

The reference fetches RAPI resources and MonD reports with libcurl
(Haskell's ``curlGetString``, which turns on ``CURLOPT_FAILONERROR``) and
reports a failure by the name of curl's error code as the ``curl`` Haskell
package shows it (``CurlCouldntConnect``, ``CurlHttpReturnedError``, and
its misspelt ``CurlUnspportedProtocol``).  :func:`get` speaks HTTP/1.1 on
a plain socket so that every step is bounded and maps to the code curl
gives for the same failure:

* name resolution and the connection (TLS handshake included) must end
  within ``connect_timeout`` seconds, the whole transfer within
  ``total_timeout`` seconds; the total deadline is checked before every
  read, so a server that trickles one byte a second is cut off on time
  (``CurlOperationTimeout``);
* the body is never allowed to grow past ``max_body`` bytes
  (``CurlFilesizeExceeded``), whether the server announces it in
  ``Content-Length`` or not -- curl has no such bound by default, but an
  unbounded body would only exhaust the memory of the machine;
* an HTTP status of 400 or more is a failure (``CurlHttpReturnedError``);
  redirections are not followed (their body is the answer, as with curl);
* TLS certificates are not verified (the reference's RAPI options; MonD
  is plain HTTP).

The limits can be lowered for tests through environment variables of ours
(see :func:`limits`); their defaults are the reference's where it has any.
"""
from __future__ import annotations

import errno
import os
import re
import socket
import ssl
import threading
import time
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

#: default body bound (bytes); ``HTOOLS_HTTP_MAX_BODY`` overrides it
MAX_BODY = 256 * 1024 * 1024

#: bound on the size of a response's status line and headers (bytes)
_MAX_HEADERS = 1024 * 1024

#: protocols this system's libcurl knows but that htools never needs;
#: we resolve and connect like curl, then give up (see ``_other_protocol``)
_CURL_PROTOCOLS = {
    "dict": 2628, "ftp": 21, "ftps": 990, "gopher": 70, "gophers": 70,
    "imap": 143, "imaps": 993, "ldap": 389, "ldaps": 636, "mqtt": 1883,
    "pop3": 110, "pop3s": 995, "rtmp": 1935, "rtsp": 554, "scp": 22,
    "sftp": 22, "smb": 445, "smbs": 445, "smtp": 25, "smtps": 465,
    "telnet": 23, "tftp": 69,
}

#: curl's guesses for URLs without a scheme (by the host name's prefix)
_GUESSES = (("ftp.", "ftp"), ("dict.", "dict"), ("ldap.", "ldap"),
            ("imap.", "imap"), ("smtp.", "smtp"), ("pop3.", "pop3"))

#: a scheme as curl recognises one: letters, digits, "+-." before ":/"
_SCHEME_RE = re.compile(r"\A([A-Za-z0-9+.-]{1,40}):(?=/)")
#: curl refuses control characters and spaces anywhere in a URL
_JUNK_RE = re.compile(r"[\x00-\x20\x7f]")
_HOST_RE = re.compile(r"\A[A-Za-z0-9._~!$&'()*+,;=%-]+\Z")
_STATUS_RE = re.compile(rb"\A\s*HTTP/(\d)\.(\d).(\d{3})", re.I)
_STATUS2_RE = re.compile(rb"\A\s*HTTP/([23])[ \t]+(\d{3})", re.I)


class CurlError(Exception):
    """A failed transfer; ``code`` is the Haskell name of curl's code."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        val = float(raw)
    except ValueError:
        return default
    return val if val > 0 else default


def limits(kind: str) -> Tuple[float, float, int]:
    """(connect timeout, total timeout, body bound) for ``rapi`` or ``mond``.

    RAPI: the reference's 15 s / 60 s.  MonD: the reference sets none
    (curl's defaults are 300 s to connect and no total bound, so one
    silent node hangs it); ours bounds each request to 15 s / 60 s.
    Environment variables of ours override them:
    ``HTOOLS_<KIND>_CONNECT_TIMEOUT``, ``HTOOLS_<KIND>_TIMEOUT`` (seconds)
    and ``HTOOLS_HTTP_MAX_BODY`` (bytes).
    """
    prefix = "HTOOLS_%s_" % kind.upper()
    conn = _env_number(prefix + "CONNECT_TIMEOUT", 15.0)
    total = _env_number(prefix + "TIMEOUT", 60.0)
    body = int(_env_number("HTOOLS_HTTP_MAX_BODY", MAX_BODY))
    return conn, total, body


# ---------------------------------------------------------------- URLs

class _Url:
    __slots__ = ("scheme", "host", "port", "path")

    def __init__(self, scheme: str, host: str, port: int, path: str):
        self.scheme, self.host, self.port, self.path = scheme, host, port, path


def parse_url(url: str) -> _Url:
    """Split ``url`` like curl 7.88 does (raises CurlError on a bad URL)."""
    if _JUNK_RE.search(url):
        raise CurlError("CurlUrlMalformat")
    m = _SCHEME_RE.match(url)
    if m:
        scheme = m.group(1).lower()
        rest = url[m.end():]
        if scheme == "file":
            return _Url("file", "", 0, rest)
        slashes = len(rest) - len(rest.lstrip("/"))
        if slashes > 3:
            raise CurlError("CurlUrlMalformat")
        rest = rest[slashes:]
    else:
        scheme = ""
        rest = url
    rest = rest.split("#", 1)[0]         # the fragment is never sent
    cut = len(rest)
    for ch in "/?":
        pos = rest.find(ch)
        if 0 <= pos < cut:
            cut = pos
    authority, path = rest[:cut], rest[cut:]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise CurlError("CurlUrlMalformat")
        host = authority[1:end]
        port_text = authority[end + 1:]
        if port_text and not port_text.startswith(":"):
            raise CurlError("CurlUrlMalformat")
        port_text = port_text[1:]
        if not re.match(r"\A[0-9A-Fa-f:.]+(%[A-Za-z0-9]+)?\Z", host):
            raise CurlError("CurlUrlMalformat")
    else:
        host, _, port_text = authority.partition(":")
        if not host or not _HOST_RE.match(host):
            raise CurlError("CurlUrlMalformat")
    if not scheme:
        scheme = "http"
        low = host.lower()
        for prefix, guess in _GUESSES:
            if low.startswith(prefix):
                scheme = guess
                break
    if scheme in ("http", "https"):
        default_port = 443 if scheme == "https" else 80
    elif scheme in _CURL_PROTOCOLS:
        default_port = _CURL_PROTOCOLS[scheme]
    else:
        raise CurlError("CurlUnspportedProtocol")
    if port_text:
        if not port_text.isdigit() or int(port_text) > 65535:
            raise CurlError("CurlUrlMalformat")
        port = int(port_text)
    else:
        port = default_port
    if not path.startswith("/"):
        path = "/" + path
    return _Url(scheme, host, port, path)


# ---------------------------------------------------------------- transfer

class _Deadline:
    def __init__(self, total: float):
        self.end = time.monotonic() + total

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise CurlError("CurlOperationTimeout")
        return left


def _resolve(host: str, port: int, timeout: float) -> List[tuple]:
    """getaddrinfo bounded by ``timeout`` (run aside, abandoned if late)."""
    result: list = []

    def work():
        try:
            result.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as err:  # gaierror or anything else: no address
            result.append(err)

    th = threading.Thread(target=work, daemon=True)
    th.start()
    th.join(timeout)
    if not result:
        raise CurlError("CurlOperationTimeout")
    if isinstance(result[0], BaseException):
        raise CurlError("CurlCouldntResolveHost")
    return result[0]


def _connect(url: _Url, connect_timeout: float, dl: _Deadline) -> socket.socket:
    conn_end = min(dl.end, time.monotonic() + connect_timeout)

    def conn_left() -> float:
        left = conn_end - time.monotonic()
        if left <= 0:
            raise CurlError("CurlOperationTimeout")
        return left

    addrs = _resolve(url.host, url.port, conn_left())
    for family, stype, proto, _, addr in addrs:
        sock = socket.socket(family, stype, proto)
        try:
            sock.settimeout(conn_left())
            sock.connect(addr)
        except CurlError:
            sock.close()
            raise
        except (socket.timeout, TimeoutError):
            sock.close()
            raise CurlError("CurlOperationTimeout") from None
        except OSError:
            sock.close()
            continue
        if url.scheme == "https":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            try:
                sock.settimeout(conn_left())
                # an end of stream without TLS close_notify is a receive
                # error for curl (GnuTLS), not a normal end
                sock = ctx.wrap_socket(sock, server_hostname=url.host,
                                       suppress_ragged_eofs=False)
            except CurlError:
                sock.close()
                raise
            except (socket.timeout, TimeoutError):
                sock.close()
                raise CurlError("CurlOperationTimeout") from None
            except OSError:
                sock.close()
                raise CurlError("CurlSSLConnectError") from None
        return sock
    raise CurlError("CurlCouldntConnect")


class _Reader:
    """Buffered reads from a socket, each bounded by the total deadline."""

    def __init__(self, sock: socket.socket, dl: _Deadline):
        self.sock = sock
        self.dl = dl
        self.buf = bytearray()
        self.eof = False
        self.received = 0

    def fill(self) -> bool:
        """Read more; False at end of stream."""
        if self.eof:
            return False
        self.sock.settimeout(self.dl.left())
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise CurlError("CurlOperationTimeout") from None
        except ssl.SSLError:
            raise CurlError("CurlRecvError") from None
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return True
            raise CurlError("CurlRecvError") from None
        if not chunk:
            self.eof = True
            return False
        self.received += len(chunk)
        self.buf += chunk
        return True

    def line(self, limit: int = 65536) -> Optional[bytes]:
        """One line with its end, or None at end of stream without one."""
        while True:
            pos = self.buf.find(b"\n")
            if pos >= 0:
                out = bytes(self.buf[:pos + 1])
                del self.buf[:pos + 1]
                return out
            if len(self.buf) > limit:
                raise CurlError("CurlRecvError")
            if not self.fill():
                return None

    def take(self, count: int) -> bytes:
        out = bytes(self.buf[:count])
        del self.buf[:count]
        return out


def _read_head(rd: _Reader) -> Tuple[int, dict]:
    """Status and headers of the final (non-1xx) response."""
    while True:
        while len(rd.buf) < 5 and rd.fill():
            pass
        start = bytes(rd.buf[:5]).upper()
        if not b"HTTP/".startswith(start):
            # not an HTTP/1.x answer: curl refuses HTTP/0.9
            raise CurlError("CurlUnspportedProtocol")
        if len(start) < 5:
            raise CurlError("CurlGotNothing")
        first = rd.line()
        if first is None:
            raise CurlError("CurlGotNothing")
        m = _STATUS_RE.match(first)
        if m and (m.group(1), m.group(2)) in ((b"1", b"0"), (b"1", b"1")):
            status = int(m.group(3))
        else:
            m2 = _STATUS2_RE.match(first)
            if not m2:
                raise CurlError("CurlUnspportedProtocol")
            status = int(m2.group(2))
        headers: dict = {}
        head_bytes = len(first)
        while True:
            line = rd.line()
            head_bytes += len(line or b"")
            if head_bytes > _MAX_HEADERS:
                raise CurlError("CurlRecvError")
            if line is None:
                # the stream ended inside the headers: curl takes what it
                # got as a complete answer with an empty body
                rd.buf.clear()
                headers = {b"content-length": b"0"}
                break
            line = line.rstrip(b"\r\n")
            if not line:
                break
            name, sep, value = line.partition(b":")
            if sep:
                headers.setdefault(name.strip().lower(), value.strip())
        if 100 <= status < 200 and status != 101:
            continue
        if status >= 400:
            raise CurlError("CurlHttpReturnedError")
        return status, headers


def _read_body(rd: _Reader, status: int, headers: dict, max_body: int) -> bytes:
    if status in (204, 304):
        return b""
    te = headers.get(b"transfer-encoding", b"").lower()
    if b"chunked" in te:
        return _read_chunked(rd, max_body)
    clen = headers.get(b"content-length")
    if clen is not None:
        if not clen.isdigit():
            raise CurlError("CurlFtpWeirdServerReply")
        want = int(clen)
        if want > max_body:
            raise CurlError("CurlFilesizeExceeded")
        while len(rd.buf) < want:
            if not rd.fill():
                raise CurlError("CurlPartialFile")
        return rd.take(want)
    while rd.fill():
        if len(rd.buf) > max_body:
            raise CurlError("CurlFilesizeExceeded")
    return rd.take(len(rd.buf))


def _read_chunked(rd: _Reader, max_body: int) -> bytes:
    out = bytearray()
    while True:
        line = rd.line(1024)
        if line is None:
            raise CurlError("CurlPartialFile")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or not re.match(rb"\A[0-9A-Fa-f]{1,16}\Z", size_text):
            raise CurlError("CurlRecvError")
        size = int(size_text, 16)
        if size == 0:
            # trailers up to the empty line (a missing one is tolerated)
            while True:
                trailer = rd.line()
                if trailer is None or not trailer.strip():
                    return bytes(out)
        if len(out) + size > max_body:
            raise CurlError("CurlFilesizeExceeded")
        while len(rd.buf) < size + 2:
            if not rd.fill():
                raise CurlError("CurlPartialFile")
        out += rd.take(size)
        if rd.take(2) != b"\r\n":
            raise CurlError("CurlRecvError")


def _read_file_url(path: str, max_body: int) -> bytes:
    from urllib.parse import unquote
    path = path.split("?", 1)[0].split("#", 1)[0]
    if path.startswith("//"):
        host, _, rest = path[2:].partition("/")
        if host not in ("", "localhost", "127.0.0.1"):
            raise CurlError("CurlUrlMalformat")
        path = "/" + rest
    try:
        with open(unquote(path), "rb") as fh:
            data = fh.read(max_body + 1)
    except OSError:
        raise CurlError("CurlFileCouldntReadFile") from None
    if len(data) > max_body:
        raise CurlError("CurlFilesizeExceeded")
    return data


def get(url: str, connect_timeout: float, total_timeout: float,
        max_body: int = MAX_BODY) -> bytes:
    """GET ``url``; the body, or CurlError with curl's code name."""
    dl = _Deadline(total_timeout)
    parsed = parse_url(url)
    if parsed.scheme == "file":
        return _read_file_url(parsed.path, max_body)
    sock = _connect(parsed, connect_timeout, dl)
    try:
        if parsed.scheme not in ("http", "https"):
            # a protocol of curl's that htools has no use for: the
            # connection was made, but we do not speak it
            raise CurlError("CurlUnspportedProtocol")
        host = parsed.host if ":" not in parsed.host else "[%s]" % parsed.host
        default = 443 if parsed.scheme == "https" else 80
        if parsed.port != default:
            host += ":%d" % parsed.port
        request = ("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n"
                   % (parsed.path, host)).encode("utf-8", "surrogateescape")
        try:
            sock.settimeout(dl.left())
            sock.sendall(request)
        except CurlError:
            raise
        except (socket.timeout, TimeoutError):
            raise CurlError("CurlOperationTimeout") from None
        except OSError:
            raise CurlError("CurlSendError") from None
        rd = _Reader(sock, dl)
        status, headers = _read_head(rd)
        return _read_body(rd, status, headers, max_body)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def get_text(url: str, kind: str) -> str:
    """:func:`get` with the limits of ``kind``; the body as text.

    Bytes that are not UTF-8 are dropped, as the reference's curl binding
    drops them (a name with such bytes shows without them; a stray byte
    between JSON tokens is not seen at all)."""
    conn, total, body = limits(kind)
    return get(url, conn, total, body).decode("utf-8", "ignore")


__all__ = ["CurlError", "get", "get_text", "limits", "parse_url", "MAX_BODY"]
