"""The Luxi backend: Ganeti's master-daemon protocol (``-L[SOCKET]``).

Two layers:

* :class:`LuxiClient`, the wire protocol (``Ganeti.Luxi`` /
  ``Ganeti.UDSServer``): one Unix stream socket, each request a JSON object
  ``{"method": M, "args": A}`` ended by byte 0x03, each reply
  ``{"success": bool, "result": ...}`` ended the same way.  A failed call
  (``success: false``) carries an encoded Ganeti exception, shown with
  Ganeti's ``formatError``.  Socket failures raise :class:`LuxiIOError` with
  the text the reference's runtime prints (``<socket: 3>: hWaitForInput:
  end of file`` ...); every read and write has the reference's deadline
  (connect 30 s, read/write 180 s), so a silent master never hangs a tool.
  The job calls used by :mod:`cluster` (SubmitManyJobs, QueryJobs,
  WaitForJobChange, CancelJob) live here too.
* :func:`load`, htools' ``Backend.Luxi.loadData``: the node, instance,
  cluster and group queries on one connection, parsed with htools' rules
  and messages (query-field status checks, node liveness, attribute
  annotations); returns *raw* cluster data like the other backends.

Errors: a Ganeti-level failure of a query becomes :class:`LoadError` (the
first failing source in the order groups, nodes, instances, cluster info,
as htools parses them); a socket failure aborts at once with
:class:`LuxiIOError`, which callers print the way the reference does
(``Error: failed to load data, aborting: ...`` for most tools,
``hscan: ...`` for hscan).
"""
from __future__ import annotations

import errno
import json
import os
import socket
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

from htools.haskell.json import (
    JSNULL, JSObject, _annotate, _Bad, decode_value, pp_value, r_bool, r_double, r_enum,
    r_int, r_list, r_string, show_jsvalue, show_ratio, try_from_obj,
)
from backends.iallocator import (
    _r_strings, r_alloc_policy, r_disk_template, r_hypervisor, r_ipolicy,
)
from backends.rapi import _assign
from htools.errors import UncaughtIOError
from htools.loader import LoadError, with_master
from htools.model import ClusterData, Disk, Group, Instance, Node
from htools.types import NO_SECONDARY, InstanceStatus
from htools.haskell.show import show_string, show_string_list
from htools.haskell.jsvalue import Ratio

#: end-of-message marker
EOM = b"\x03"
#: Ganeti's ``luxiDefCtmo`` and ``luxiDefRwto`` (seconds)
CONNECT_TIMEOUT = 30.0
RW_TIMEOUT = 180.0
#: replies larger than this are refused (a master never sends one)
MAX_REPLY = 1 << 30

#: the socket's name in the runtime's error texts (the first descriptor a
#: fresh htools process opens)
SOCK_NAME = "<socket: 3>"

NODE_FIELDS = ["name", "mtotal", "mnode", "mfree", "dtotal", "dfree",
               "ctotal", "cnos", "offline", "drained", "vm_capable",
               "ndp/spindle_count", "group.uuid", "tags",
               "ndp/exclusive_storage", "sptotal", "spfree", "ndp/cpu_speed"]
INSTANCE_FIELDS = ["name", "disk_usage", "be/memory", "be/vcpus", "status",
                   "pnode", "snodes", "tags", "be/auto_balance",
                   "disk_template", "be/spindle_use", "disk.sizes",
                   "disk.spindles", "forthcoming"]
GROUP_FIELDS = ["uuid", "name", "alloc_policy", "ipolicy", "tags"]

#: job states (``JobStatus``), in Ganeti's order
JOB_QUEUED, JOB_WAITING, JOB_CANCELING, JOB_RUNNING = (
    "queued", "waiting", "canceling", "running")
JOB_CANCELED, JOB_SUCCESS, JOB_ERROR = "canceled", "success", "error"
JOB_STATUSES = [JOB_QUEUED, JOB_WAITING, JOB_CANCELING, JOB_RUNNING,
                JOB_CANCELED, JOB_SUCCESS, JOB_ERROR]
#: states in which a job is not finished (``<= JOB_STATUS_RUNNING``)
JOB_PENDING = frozenset(JOB_STATUSES[:4])
#: Haskell constructor names, for messages that ``show`` a status
JOB_STATUS_SHOW = {st: "JOB_STATUS_" + st.upper() for st in JOB_STATUSES}


class LuxiIOError(UncaughtIOError):
    """The socket failed (connect, read, write, timeout, closed).

    While loading data the reference catches these (``Error: failed to load
    data, aborting: ...``); elsewhere (hscan, job execution) they end the
    program as ``<prog>: ...``."""

    caught_by_loader = True


class LuxiError(Exception):
    """A call answered with an error; ``message`` is Ganeti's text."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- errors

_ERROR_CODES = {
    "resolver_error": "ECodeResolver", "insufficient_resources": "ECodeNoRes",
    "temp_insufficient_resources": "ECodeTempNoRes",
    "wrong_input": "ECodeInval", "wrong_state": "ECodeState",
    "unknown_entity": "ECodeNoEnt", "already_exists": "ECodeExists",
    "resource_not_unique": "ECodeNotUnique", "internal_error": "ECodeFault",
    "environment_error": "ECodeEnviron",
}

#: exceptions carrying just a message, and their ``formatError`` prefix
#: (None: ``Unhandled exception: <show>``)
_MSG_EXCEPTIONS = {
    "GenericError": "Unhandled Ganeti error: ",
    "ConfigurationError": None, "OpExecError": None, "TagError": None,
    "HooksFailure": "Failure: hooks general failure: ",
    "TypeEnforcementError": "Parameter Error: ",
    "ParameterError": None, "JobLost": "Error checking job status: ",
    "QueryFilterParseError": "Error while parsing query filter: ",
}
_OTHER_MSG = {"LockError", "PidFileLockError", "HypervisorError",
              "ProgrammerError", "BlockDeviceError", "ReservationError",
              "RemoteError", "SignatureError", "ResultValidationError",
              "OpResultError", "OpCodeUnknown", "JobFileCorrupted",
              "UnitParseError", "ParseError", "CommandError", "StorageError",
              "InotifyError", "JobQueueError", "JobQueueDrainError",
              "ConfdMagicError", "ConfdClientError", "UdpDataSizeError",
              "NoCtypesError", "IPAddressError", "LuxiError",
              "RapiTestResult", "FileStoragePathError"}


def _exc_msg(args) -> str:
    """The message argument of an encoded exception."""
    if isinstance(args, list) and args:
        first = args[0]
    else:
        first = args
    if isinstance(first, str):
        return first
    raise _Bad("Unable to read String")


def format_error(value) -> str:
    """Ganeti's ``formatError`` of an encoded ``GanetiException``."""
    if not (isinstance(value, list) and len(value) == 2
            and isinstance(value[0], str)):
        return ("Unhandled Ganeti error: Cannot convert value '%s', error: "
                "Invalid exception: expected '(string, [args])'       but got "
                "%s'" % (pp_value(value), pp_value(value)))
    name, args = value
    try:
        if name == "OpPrereqError":
            msg = _exc_msg(args)
            code = args[1] if isinstance(args, list) and len(args) > 1 else ""
            return ("Failure: prerequisites not met for this operation:\n"
                    "error type: %s, error details:\n%s"
                    % (_ERROR_CODES.get(code, code), msg))
        if name == "JobQueueFull":
            return ("Failure: the job queue is full and doesn't accept new "
                    "job submissions until old jobs are archived")
        if name == "JobQueueDrainError":
            return ("Failure: the job queue is marked for drain and doesn't "
                    "accept new requests")
        if name in _MSG_EXCEPTIONS:
            msg = _exc_msg(args)
            prefix = _MSG_EXCEPTIONS[name]
            if prefix is not None:
                return prefix + msg
            if name == "ConfigurationError":
                return "Corrupt configuration file: %s\nAborting." % msg
            if name == "OpExecError":
                return "Failure: command execution error:\n" + msg
            if name == "TagError":
                return "Failure: invalid tag(s) given:\n" + msg
            return "Failure: unknown/wrong parameter name '%s'" % msg
        if name in _OTHER_MSG:
            return "Unhandled exception: %s %s" % (name, show_string(_exc_msg(args)))
    except _Bad:
        pass
    if name in _MSG_EXCEPTIONS or name in _OTHER_MSG or name in (
            "OpPrereqError", "JobQueueFull"):
        return ("Unhandled Ganeti error: Cannot convert value '%s', error: "
                "Invalid exception arguments for %s" % (pp_value(value), name))
    return ("Unhandled Ganeti error: Cannot convert value '%s', error: "
            "Unknown exception '%s'" % (pp_value(value), name))


def _show_js(v) -> str:
    return show_jsvalue(v)


def parse_job_id(v) -> int:
    """``parseJobId`` of a submission result's payload."""
    from htools.haskell.prelude import wrap_int64
    from htools.haskell.read import ReadError, try_read_int
    if isinstance(v, str):
        try:
            jid = try_read_int("parsing job id", v)
        except ReadError as err:
            raise _luxi_exception(str(err)) from None
    elif isinstance(v, bool) or v is JSNULL or not isinstance(v, (int, Ratio)):
        raise _luxi_exception("Wrong type/value for job id: " + _show_js(v))
    elif isinstance(v, Ratio) and v.denominator != 1:
        raise _luxi_exception("Got fractional job ID from master daemon?! Value:"
                              + show_ratio(v, 0))
    else:
        jid = wrap_int64(int(v))
    if jid < 0:
        raise _luxi_exception("Invalid value for job ID ' %d'" % jid)
    return jid


def _luxi_exception(msg: str) -> LuxiError:
    """A ``LuxiError`` exception raised by the client itself, as
    ``formatError`` shows it (``Unhandled exception: LuxiError "..."``)."""
    return LuxiError("Unhandled exception: LuxiError " + show_string(msg))


# ---------------------------------------------------------------- transport

def _io_text(err: BaseException, when: str) -> str:
    """The GHC runtime's text for a socket failure."""
    where = SOCK_NAME + (": " + when if when else "")
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "%s: timeout" % where
    if isinstance(err, OSError) and err.errno is not None:
        kind = {errno.ENOENT: "does not exist",
                errno.EACCES: "permission denied",
                errno.EPERM: "permission denied",
                errno.ECONNREFUSED: "does not exist",
                errno.EPIPE: "resource vanished",
                errno.ECONNRESET: "resource vanished",
                errno.ENOTSOCK: "invalid argument",
                errno.ENAMETOOLONG: "invalid argument"}.get(err.errno,
                                                            "failed")
        return "%s: %s (%s)" % (where, kind, os.strerror(err.errno))
    return "%s: %s" % (where, err)


class LuxiClient:
    """One connection to a Ganeti master (``getLuxiClient``)."""

    def __init__(self, path: str, connect_timeout: float = CONNECT_TIMEOUT,
                 rw_timeout: float = RW_TIMEOUT):
        self.path = path
        self.rw_timeout = rw_timeout
        self._buf = b""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(connect_timeout)
        try:
            sock.connect(path)
        except OSError as err:
            sock.close()
            raise LuxiIOError("Network.Socket.connect: "
                              + _io_text(err, "")) from None
        self.sock: Optional[socket.socket] = sock

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> "LuxiClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- raw messages -----------------------------------------------------
    def send(self, method: str, args: Any) -> None:
        data = json.dumps({"method": method, "args": hs_numbers(args)},
                          separators=(",", ":")).encode("utf-8") + EOM
        assert self.sock is not None
        self.sock.settimeout(self.rw_timeout)
        try:
            self.sock.sendall(data)
        except OSError as err:
            raise LuxiIOError(_io_text(err, "hPutBuf")) from None

    def recv(self) -> bytes:
        """One message; at most ``rw_timeout`` between two reads."""
        assert self.sock is not None
        while EOM not in self._buf:
            self.sock.settimeout(self.rw_timeout)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                raise LuxiIOError("user error (Timeout in reading a "
                                  "response)") from None
            except OSError as err:
                raise LuxiIOError(_io_text(err, "hWaitForInput")) from None
            if not chunk:
                raise LuxiIOError("%s: hWaitForInput: end of file" % SOCK_NAME)
            self._buf += chunk
            if len(self._buf) > MAX_REPLY:
                raise LuxiIOError("%s: reply larger than %d bytes"
                                  % (SOCK_NAME, MAX_REPLY))
        msg, self._buf = self._buf.split(EOM, 1)
        return msg

    def call(self, method: str, args: Any):
        """Send a request and return its result (raises LuxiError)."""
        self.send(method, args)
        return parse_response(self.recv())

    def call_raw(self, method: str, args: Any):
        """Like :meth:`call`, the result as decoded (JSObject form), for
        messages that ``show`` what the master sent."""
        self.send(method, args)
        return decode_response(self.recv())

    # -- the calls ----------------------------------------------------------
    def query(self, what: str, fields: Sequence[str], qfilter=None):
        return self.call("Query", [what, list(fields), qfilter])

    def query_cluster_info(self):
        return self.call("QueryClusterInfo", [])

    def submit_many_jobs(self, jobs: Sequence[Sequence[dict]]) -> List[int]:
        """``SubmitManyJobs``: the job ids (LuxiError on any refusal, worded
        as htools words its own ``LuxiError`` s)."""
        res = self.call_raw("SubmitManyJobs", [[list(j) for j in jobs]])
        if not isinstance(res, list):
            shown = _show_js(res)  # ``show`` of the call's ``Ok x``
            raise _luxi_exception("Cannot parse response from Ganeti: Ok "
                                  + (shown if res is JSNULL else "(%s)" % shown))
        ids = []
        for item in res:
            if isinstance(item, list) and len(item) == 2 and item[0] is True:
                ids.append(parse_job_id(item[1]))
            elif isinstance(item, list) and len(item) == 2 and \
                    item[0] is False and isinstance(item[1], str):
                raise _luxi_exception(item[1])
            else:
                raise _luxi_exception("Unknown result from the master daemon: "
                                      + pp_value(item))
        return ids

    def query_jobs(self, ids: Optional[Sequence[int]], fields: Sequence[str]):
        return self.call("QueryJobs", [None if ids is None else list(ids),
                                       list(fields)])

    def query_jobs_status(self, ids: Sequence[int]) -> List[str]:
        """``queryJobsStatus``: one status per job."""
        res = self.call_raw("QueryJobs", [list(ids), ["status"]])
        if not isinstance(res, list):
            raise _luxi_exception("Unable to read list")
        for row in res:
            if not isinstance(row, list):
                raise _luxi_exception("Unable to read list")
            for st in row:
                if not isinstance(st, str):
                    raise _luxi_exception("Can't parse value for 'JobStatus': "
                                          "Unable to read String")
                if st not in JOB_STATUSES:
                    raise _luxi_exception("Invalid string value for type "
                                          "JobStatus: " + show_string(st))
        if any(not row for row in res):
            raise _luxi_exception("Missing job status field")
        return [row[0] for row in res]

    def wait_for_job_change(self, job_id: int, fields: Sequence[str],
                            prev_info, prev_serial, timeout: int):
        return self.call("WaitForJobChange", [job_id, list(fields), prev_info,
                                              prev_serial, timeout])

    def cancel_job(self, job_id: int, kill: bool = False):
        return self.call("CancelJob", [job_id, kill])


def hs_numbers(v):
    """Numbers as Ganeti's JSON encoder writes them: a double with an
    integral value as an integer (``2.0`` -> ``2``)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: hs_numbers(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [hs_numbers(x) for x in v]
    return v


def parse_response(raw: bytes):
    """The result of a successful call as plain JSON values, else LuxiError."""
    return to_plain(decode_response(raw))


def decode_response(raw: bytes):
    """``parseResponse``: the decoded result (JSObject form) or LuxiError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LuxiError("Unhandled Ganeti error: Failed to decode UTF-8, "
                        "detected replacement char after decoding") from None
    if "\ufffd" in text:
        raise LuxiError("Unhandled Ganeti error: Failed to decode UTF-8, "
                        "detected replacement char after decoding")
    try:
        obj = decode_value(text)
    except _Bad as err:
        raise LuxiError("Unhandled Ganeti error: Parsing LUXI response: "
                        + err.msg) from None
    except RecursionError:
        raise LuxiError("Unhandled Ganeti error: Parsing LUXI response: "
                        "nesting too deep") from None
    if not isinstance(obj, JSObject):
        raise LuxiError("Unhandled Ganeti error: Parsing LUXI response: "
                        "Unable to read JSObject")
    for key in ("success", "result"):
        if not obj.lookup(key)[0]:
            raise LuxiError("Unhandled Ganeti error: key '%s' not found, "
                            "object contains only %s"
                            % (key, show_string_list(obj.keys())))
    status = obj.lookup("success")[1]
    if not isinstance(status, bool):
        raise LuxiError("Unhandled Ganeti error: key 'success': "
                        "Unable to read Bool")
    result = obj.lookup("result")[1]
    if status:
        return result
    raise LuxiError(format_error(to_plain(result)))


def to_plain(v):
    """A decoded JSON value with plain dicts (numbers stay exact)."""
    if isinstance(v, JSObject):
        return {k: to_plain(x) for k, x in reversed(v.pairs)}
    if isinstance(v, list):
        return [to_plain(x) for x in v]
    return v


# ---------------------------------------------------------------- parsing

#: ``ResultStatus`` values and their ``checkRS`` failures
_RS_FAIL = {1: "Unknown field", 2: "No data for a field",
            3: "Ganeti reports unavailable data",
            4: "Ganeti reports resource as offline"}

if TYPE_CHECKING:
    Field = Tuple[Any, Any]


def _from_jval(v, reader):
    """Ganeti's ``fromJVal``."""
    try:
        return reader(v)
    except _Bad as err:
        raise _Bad("Cannot convert value '%s', error: %s"
                   % (pp_value(v), err.msg)) from None


def _r_status(v) -> int:
    st = r_int(v)
    if st not in (0, 1, 2, 3, 4):
        raise _Bad("Invalid value for type ResultStatus: %d" % st)
    return st


def _with_status(field: Field, reader):
    """``fromJValWithStatus``: check the field status, then convert."""
    st = _from_jval(field[0], _r_status)
    if st != 0:
        raise _Bad(_RS_FAIL[st])
    return _from_jval(field[1], reader)


def _convert(otype: str, oname: str, attr: str, field: Field, reader):
    """``genericConvert``: the value, errors annotated with owner/attribute."""
    return _annotate("%s '%s', error while reading attribute '%s'"
                     % (otype, oname, attr),
                     lambda: _with_status(field, reader))


def _r_maybe_ints(v) -> List[Optional[int]]:
    """``arrayMaybeFromJVal`` at type [Maybe Int]."""
    if not isinstance(v, list):
        raise _Bad("Expecting array, got '%s'" % pp_value(v))
    out: List[Optional[int]] = []
    for x in v:
        out.append(None if x is JSNULL else _from_jval(x, r_int))
    return out


def _extract_rows(value, kind: str) -> List[List[Field]]:
    """``extractArray``: the rows of a query result as (status, value)."""
    if not isinstance(value, JSObject):
        raise _Bad("Invalid input, expected dict entry but got "
                   + pp_value(value))
    found, data = value.lookup("data")
    if not found:
        raise _Bad("key 'data' not found, object contains only %s"
                   % show_string_list(value.keys()))
    if not isinstance(data, list):
        raise _Bad("Invalid query result, expected array but got "
                   + pp_value(data))
    rows = []
    for row in data:
        if not isinstance(row, list):
            raise _Bad("Invalid query row result, expected array but got "
                       + pp_value(row))
        fields = []
        for f in row:
            if not (isinstance(f, list) and len(f) == 2):
                raise _Bad("Invalid query field, expected (status, value) "
                           "but got " + pp_value(f))
            fields.append((f[0], f[1]))
        rows.append(fields)
    return rows


def _row_text(row: List[Field]) -> str:
    return "[%s]" % ",".join("(%s,%s)" % (pp_value(a), pp_value(b))
                             for a, b in row)


r_instance_status = r_enum("InstanceStatus",
                           {st.value: st for st in InstanceStatus})


def parse_group(row: List[Field]) -> Tuple[str, Group]:
    if len(row) != len(GROUP_FIELDS):
        raise _Bad("Invalid group query result: " + _row_text(row))
    uuid, name, apol, ipol, tags = row
    xname = _annotate("Parsing new group", lambda: _with_status(name, r_string))

    def conv(attr, field, reader):
        return _convert("Group", xname, attr, field, reader)

    xuuid = conv("uuid", uuid, r_string)
    xapol = conv("alloc_policy", apol, r_alloc_policy)
    xipol = conv("ipolicy", ipol, r_ipolicy)
    xtags = conv("tags", tags, _r_strings)
    return xuuid, Group(name=xname, uuid=xuuid, alloc_policy=xapol,
                        networks=[], ipolicy=xipol, tags=xtags)


def parse_node(ktg: Dict[str, int], row: List[Field]) -> Tuple[str, Node]:
    if len(row) != len(NODE_FIELDS):
        raise _Bad("Invalid node query result: " + _row_text(row))
    (name, mtotal, mnode, mfree, dtotal, dfree, ctotal, cnos, offline,
     drained, vm_capable, spindles, g_uuid, tags, excl_stor, sptotal,
     spfree, cpu_speed) = row
    xname = _annotate("Parsing new node", lambda: _with_status(name, r_string))

    def conv(attr, field, reader):
        return _convert("Node", xname, attr, field, reader)

    xoffline = conv("offline", offline, r_bool)
    xdrained = conv("drained", drained, r_bool)
    xvm_capable = conv("vm_capable", vm_capable, r_bool)
    guuid = conv("group.uuid", g_uuid, r_string)
    if guuid not in ktg:
        raise _Bad("Unknown group '%s' for node %s" % (guuid, xname))
    xgdx = ktg[guuid]
    xtags = conv("tags", tags, _r_strings)
    xexcl = conv("exclusive_storage", excl_stor, r_bool)
    xspeed = conv("cpu_speed", cpu_speed, r_double)
    live = not xoffline and xvm_capable

    def lvconv(default, attr, field, reader):
        return conv(attr, field, reader) if live else default

    def lvconv_or(default, attr, field, reader):
        try:
            return lvconv(default, attr, field, reader)
        except _Bad:
            return default

    if xexcl:
        xsptotal = lvconv(0, "sptotal", sptotal, r_int)
    else:
        xsptotal = conv("spindles", spindles, r_int)
    xspfree = lvconv_or(0, "spfree", spfree, r_int)
    xmtotal = lvconv(0.0, "mtotal", mtotal, r_double)
    xmnode = lvconv(0, "mnode", mnode, r_int)
    xmfree = lvconv(0, "mfree", mfree, r_int)
    xdtotal = lvconv_or(0.0, "dtotal", dtotal, r_double)
    xdfree = lvconv_or(0, "dfree", dfree, r_int)
    xctotal = lvconv(0.0, "ctotal", ctotal, r_double)
    xcnos = lvconv(0, "cnos", cnos, r_int)
    node = Node(xname, xmtotal, xmnode, xmfree, xdtotal, xdfree, xctotal,
                xcnos, (not live) or xdrained, xsptotal, xspfree, xgdx, xexcl)
    node.tags = xtags
    node.t_cpu_speed = xspeed
    return xname, node


def _lookup_node(ktn: Dict[str, int], iname: str, node: str) -> int:
    try:
        return ktn[node]
    except KeyError:
        raise _Bad("Unknown node '%s' for instance %s" % (node, iname)) from None


def parse_instance(ktn: Dict[str, int], row: List[Field]) -> Tuple[str, Instance]:
    if len(row) != len(INSTANCE_FIELDS):
        raise _Bad("Invalid instance query result: " + _row_text(row))
    (name, disk, mem, vcpus, status, pnode, snodes, tags, auto_balance,
     disk_template, su, dsizes, dspindles, forthcoming) = row
    xname = _annotate("Parsing new instance",
                      lambda: _with_status(name, r_string))

    def conv(attr, field, reader):
        return _convert("Instance", xname, attr, field, reader)

    xdisk = conv("disk_usage", disk, r_int)
    xmem = conv("be/memory", mem, r_int)
    xvcpus = conv("be/vcpus", vcpus, r_int)
    xpnode = _lookup_node(ktn, xname, conv("pnode", pnode, r_string))
    xsnodes = conv("snodes", snodes, r_list(r_string))
    snode = NO_SECONDARY if not xsnodes else _lookup_node(ktn, xname, xsnodes[0])
    xrunning = conv("status", status, r_instance_status)
    xtags = conv("tags", tags, _r_strings)
    xauto = conv("auto_balance", auto_balance, r_bool)
    xdt = conv("disk_template", disk_template, r_disk_template)
    xsu = conv("be/spindle_use", su, r_int)
    xdsizes = conv("disk.sizes", dsizes, r_list(r_int))
    xdspindles = conv("disk.spindles", dspindles, _r_maybe_ints)
    xforth = conv("forthcoming", forthcoming, r_bool)
    disks = [Disk(s, sp) for s, sp in zip(xdsizes, xdspindles)]
    inst = Instance(name=xname, mem=xmem, dsk=xdisk, disks=disks,
                    vcpus=xvcpus, run_st=xrunning, tags=xtags,
                    auto_balance=xauto, pnode=xpnode, snode=snode,
                    disk_template=xdt, spindle_use=xsu, nics=[],
                    forthcoming=xforth)
    return xname, inst


def parse_cluster(value):
    if not isinstance(value, JSObject):
        raise _Bad("Cannot parse cluster info, not a JSON record")

    def extract(key, reader):
        return try_from_obj("Parsing cluster info", value, key, reader)

    tags = extract("tags", _r_strings)
    ipolicy = extract("ipolicy", r_ipolicy)
    master = extract("master", r_string)
    hypervisor = extract("default_hypervisor", r_hypervisor)
    return tags, ipolicy, master, hypervisor


#: a query's outcome: (True, decoded value) or (False, error text)
if TYPE_CHECKING:
    Answer = Tuple[bool, Any]


def _raw_call(client: LuxiClient, method: str, args) -> Answer:
    """A call whose Ganeti-level failure is kept as a value (``Result``)."""
    client.send(method, args)
    try:
        return True, decode_response(client.recv())
    except LuxiError as err:
        return False, err.message


def read_data(path: str, pools: bool = False) -> List[Answer]:
    """``readData``: nodes, instances, cluster info, groups on one connection.

    Returns the answers in the order groups, nodes, instances, info; with
    ``pools`` a fifth, the storage-pool job's results (or its failure)."""
    with LuxiClient(path) as client:
        nodes = _raw_call(client, "Query", ["node", NODE_FIELDS, None])
        insts = _raw_call(client, "Query", ["instance", INSTANCE_FIELDS, None])
        cinfo = _raw_call(client, "QueryClusterInfo", [])
        groups = _raw_call(client, "Query", ["group", GROUP_FIELDS, None])
        answers = [groups, nodes, insts, cinfo]
        if pools:
            answers.append(_run_read_job(client))
    return answers


def _run_read_job(client: LuxiClient) -> Answer:
    """Run the storage-pool job (backends.pools.read_ops) and wait for it:
    (True, its two results) or (False, why not)."""
    from backends.pools import TIMEOUT, read_ops, wait_finished
    try:
        jid = client.submit_many_jobs([read_ops()])[0]
        if wait_finished(lambda: client.query_jobs_status([jid])[0]) is None:
            return False, "job %d still unfinished after %ds" % (jid, TIMEOUT)
        row = to_plain(client.query_jobs([jid], ["status", "opresult"]))[0]
    except LuxiError as err:
        return False, err.message
    if not isinstance(row, list) or len(row) != 2 or row[0] != JOB_SUCCESS:
        return False, "job %d failed: %s" % (jid, json.dumps(row)[:300])
    return True, row[1]


def _ok(answer: Answer):
    ok, val = answer
    if not ok:
        raise _Bad(val)
    return val


def parse_data(answers: List[Answer], extra_vgs: Sequence[str] = ()) -> ClusterData:
    """htools' ``Luxi.parseData`` (raises LoadError with its message); a
    fifth answer (the storage-pool job's) gives the pools."""
    groups_a, nodes_a, insts_a, cinfo_a = answers[:4]
    try:
        ktg, groups = _assign([parse_group(r) for r in
                               _extract_rows(_ok(groups_a), "group")])
        ktn, nodes = _assign([parse_node(ktg, r) for r in
                              _extract_rows(_ok(nodes_a), "node")])
        _, insts = _assign([parse_instance(ktn, r) for r in
                            _extract_rows(_ok(insts_a), "instance")])
        tags, ipolicy, master, hypervisor = parse_cluster(_ok(cinfo_a))
    except _Bad as err:
        raise LoadError(err.msg) from None
    cdata = with_master(groups, nodes, insts, tags, ipolicy, ktn, master, hypervisor)
    if len(answers) > 4:
        _apply_pool_answer(cdata, answers[4], to_plain(_ok(cinfo_a)), extra_vgs)
    return cdata


def _apply_pool_answer(cdata: ClusterData, answer: Answer, cinfo,
                       extra_vgs: Sequence[str]) -> None:
    from backends.pools import PoolDataError, apply_pools
    ok, val = answer
    if not ok:
        raise LoadError("cannot read the storage pools: " + val)
    try:
        if not isinstance(val, list) or len(val) != 2 or \
                not isinstance(val[0], list):
            raise PoolDataError("unexpected job results")
        vg = cinfo.get("volume_group_name") if isinstance(cinfo, dict) else None
        apply_pools(cdata, val[0], val[1], vg if isinstance(vg, str) else None,
                    extra_vgs)
    except PoolDataError as err:
        raise LoadError("cannot read the storage pools: " + str(err)) from None


def load(path: str, pools: Optional[Sequence[str]] = None) -> ClusterData:
    """htools' ``Luxi.loadData``: raw cluster data read over ``path``; with
    ``pools`` (a list, maybe empty, of extra volume groups) the storage
    pools too."""
    if pools is None:
        return parse_data(read_data(path))
    return parse_data(read_data(path, True), pools)
