"""Executing plans over Ganeti's RAPI (``-m CLUSTER -X``; ours).

The reference executes only over Luxi, i.e. on the master node.  For
operators who run the tools elsewhere, :class:`RapiClient` offers the same
calls as :class:`backends.luxi.LuxiClient` that the executor uses, on top
of RAPI resources:

* an opcode goes to its resource (``PUT /2/instances/I/migrate``,
  ``.../failover``, ``POST .../replace-disks``, ``PUT /2/nodes/N/tags``,
  ``POST /2/nodes/N/modify``) with the opcode's fields, comment and
  priority as the body and the reason text as ``?reason=``;
* RAPI makes one job per call, so a job of several opcodes (``f r:N f``)
  becomes a chain of jobs, each depending on the success of the previous
  one (Ganeti's job dependencies), and is followed through its last job;
* job status, logs and results come from ``/2/jobs/ID``; the job list
  (for earlier runs) from ``/2/jobs?bulk=1``; instances and nodes for the
  pre-submission checks from ``/2/instances?bulk=1`` / ``/2/nodes?bulk=1``.

Writes are authenticated and verified: credentials come from a file
(``--rapi-auth=FILE``: ``user password`` on one line) or the environment
(``HTOOLS_RAPI_USER`` / ``HTOOLS_RAPI_PASSWORD``), never from the command
line; the server certificate is checked against ``--rapi-ca=FILE`` (a CA
bundle, or the server's own certificate to pin it), or the system's CAs.
``--rapi-insecure`` turns verification off and says so on stderr.
Failures (401/403, a certificate that does not verify, an unreachable
host) are one clear line, and nothing is submitted after them.
"""
from __future__ import annotations

import base64
import json
import os
import ssl
import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence
from urllib.parse import quote, urlencode, urlsplit

from backends.luxi import LuxiError, LuxiIOError, hs_numbers
from htools.errors import HtoolsError

DEFAULT_PORT = 5080
TIMEOUT = 60.0


class RapiCredentials:
    def __init__(self, user: str, password: str):
        self.user = user
        self.password = password

    @classmethod
    def from_options(cls, opts) -> "RapiCredentials":
        path = getattr(opts, "rapi_auth", None)
        if path:
            try:
                with open(path) as fh:
                    fields = fh.readline().split()
            except OSError as err:
                raise HtoolsError("cannot read the RAPI credentials file %s: %s"
                                  % (path, err.strerror)) from None
            if len(fields) != 2:
                raise HtoolsError("the RAPI credentials file %s must hold one "
                                  "line 'user password'" % path)
            return cls(fields[0], fields[1])
        user = os.environ.get("HTOOLS_RAPI_USER")
        password = os.environ.get("HTOOLS_RAPI_PASSWORD")
        if user and password is not None:
            return cls(user, password)
        raise HtoolsError("execution over RAPI needs credentials: "
                          "--rapi-auth=FILE or HTOOLS_RAPI_USER and "
                          "HTOOLS_RAPI_PASSWORD")

    def header(self) -> str:
        raw = ("%s:%s" % (self.user, self.password)).encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")


def base_url(master: str) -> str:
    """The cluster's RAPI address, as ``-m`` reads it."""
    if "://" in master:
        return master.rstrip("/")
    if ":" in master:
        return "https://" + master
    return "https://%s:%d" % (master, DEFAULT_PORT)


def tls_context(cafile: Optional[str], insecure: bool) -> ssl.SSLContext:
    if insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        ctx = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as err:
        raise HtoolsError("cannot use %s as RAPI certificate file: %s"
                          % (cafile, getattr(err, "strerror", None) or err)) from None
    if cafile:
        # a pinned self-signed certificate names the cluster, not the
        # address we connect to: the chain check is what matters
        ctx.check_hostname = False
    return ctx


class RapiClient:
    """The subset of LuxiClient's calls the executor uses, over RAPI."""

    def __init__(self, url: str, creds: RapiCredentials, ctx: ssl.SSLContext,
                 timeout: float = TIMEOUT):
        parts = urlsplit(url)
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.creds = creds
        self.ctx = ctx
        self.timeout = timeout

    def __enter__(self) -> "RapiClient":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        pass

    # -- HTTP -----------------------------------------------------------------
    def request(self, method: str, path: str, body=None, query=None):
        import http.client
        if query:
            path += "?" + urlencode(query, doseq=True)
        what = "%s %s%s" % (method, self.url, path)
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port,
                                               timeout=self.timeout, context=self.ctx)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"Accept": "application/json",
                   "User-Agent": "htools-py",
                   "Authorization": self.creds.header()}
        data = None
        if body is not None:
            data = json.dumps(hs_numbers(body)).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read(64 << 20)
        except ssl.SSLCertVerificationError as err:
            raise LuxiIOError("RAPI %s: the server certificate does not verify "
                              "(%s); give its CA or certificate with --rapi-ca"
                              % (self.url, err.verify_message or err.reason)) from None
        except (ssl.SSLError, OSError, http.client.HTTPException) as err:
            text = getattr(err, "strerror", None) or str(err) or type(err).__name__
            raise LuxiIOError("RAPI %s: %s" % (self.url, text)) from None
        finally:
            conn.close()
        if resp.status in (401, 403):
            raise LuxiError("RAPI %s: %d %s (check the credentials and their "
                            "write access)" % (what, resp.status, resp.reason))
        if resp.status >= 400:
            detail = ""
            try:
                err = json.loads(raw)
                detail = ": " + str(err.get("explain") or err.get("message") or "")
            except (ValueError, AttributeError):
                pass
            raise LuxiError("RAPI %s: %d %s%s" % (what, resp.status, resp.reason,
                                                   detail.rstrip(": ")))
        try:
            return json.loads(raw)
        except ValueError:
            raise LuxiError("RAPI %s: the answer is not JSON" % what) from None

    # -- LuxiClient's calls ------------------------------------------------------
    def query_cluster_info(self):
        return self.request("GET", "/2/info")

    def query(self, what: str, fields: Sequence[str], qfilter=None):
        res = {"instance": "/2/instances", "node": "/2/nodes"}.get(what)
        if res is None:
            raise LuxiError("RAPI: no query for %s" % what)
        rows = self.request("GET", res, query={"bulk": 1})
        out = []
        for obj in rows if isinstance(rows, list) else []:
            row = []
            for f in fields:
                key = {"snodes": "snodes", "status": "status"}.get(f, f)
                if key in obj:
                    row.append([0, obj[key]])
                else:
                    row.append([2, None])
            out.append(row)
        return {"data": out}

    def submit_many_jobs(self, jobs: Sequence[Sequence[dict]]) -> List[int]:
        ids = []
        for job in jobs:
            prev = None
            for op in job:
                op = dict(op)
                if prev is not None:
                    op["depends"] = [[prev, ["success"]]]
                prev = self._submit_op(op)
            ids.append(prev)
        return ids

    def _submit_op(self, op: Dict) -> int:
        op_id = op.pop("OP_ID")
        reason = op.pop("reason", None) or []
        query = {}
        if reason:
            query["reason"] = "%s: %s" % (reason[0][0], reason[0][1])
        for key in ("dry_run",):
            op.pop(key, None)
        if op_id in ("OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER",
                     "OP_INSTANCE_REPLACE_DISKS"):
            name = op.pop("instance_name")
            action = {"OP_INSTANCE_MIGRATE": ("PUT", "migrate"),
                      "OP_INSTANCE_FAILOVER": ("PUT", "failover"),
                      "OP_INSTANCE_REPLACE_DISKS": ("POST", "replace-disks")}[op_id]
            res = self.request(action[0], "/2/instances/%s/%s" % (quote(name), action[1]),
                               body=op, query=query)
        elif op_id == "OP_NODE_SET_PARAMS":
            name = op.pop("node_name")
            res = self.request("POST", "/2/nodes/%s/modify" % quote(name), body=op,
                               query=query)
        elif op_id == "OP_TAGS_SET" and op.get("kind") == "node":
            query["tag"] = list(op.get("tags", []))
            res = self.request("PUT", "/2/nodes/%s/tags" % quote(op["name"]),
                               query=query)
        else:
            raise LuxiError("RAPI has no resource for %s; run this tool on the "
                            "master node with -L" % op_id)
        try:
            return int(res)
        except (TypeError, ValueError):
            raise LuxiError("RAPI: unexpected answer to a job submission: %r"
                            % (res,)) from None

    def query_jobs(self, ids: Optional[Sequence[int]], fields: Sequence[str]):
        if ids is None:
            rows = self.request("GET", "/2/jobs", query={"bulk": 1})
            return [[job.get(f) for f in fields] for job in rows or []]
        out = []
        for jid in ids:
            job = self.request("GET", "/2/jobs/%d" % jid)
            out.append([job.get(f) for f in fields])
        return out

    def query_jobs_status(self, ids: Sequence[int]) -> List[str]:
        return [row[0] for row in self.query_jobs(ids, ["status"])]

    def wait_for_job_change(self, *args):
        raise LuxiError("RAPI: no WaitForJobChange")

    def cancel_job(self, job_id: int, kill: bool = False):
        return self.request("DELETE", "/2/jobs/%d" % job_id)


def connector(opts):
    """A factory of RAPI clients for ``-m`` and our RAPI options."""
    creds = RapiCredentials.from_options(opts)
    insecure = bool(getattr(opts, "rapi_insecure", False))
    ctx = tls_context(getattr(opts, "rapi_ca", None), insecure)
    if insecure:
        sys.stdout.flush()
        sys.stderr.write("WARNING: --rapi-insecure: the RAPI server's certificate "
                         "is NOT verified; anyone on the path can read the "
                         "credentials and change the jobs\n")
        sys.stderr.flush()
    url = base_url(opts.master)
    return lambda: RapiClient(url, creds, ctx)
