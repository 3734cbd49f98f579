"""Command-line options of the htools programs.

This module holds

* :class:`Options`, the parsed options (mirrors ``Ganeti.HTools.CLI.Options``
  with snake_case names and the same defaults);
* ``OPTION_TABLE``: ONE table of every option (short letters, long name,
  argument kind, metavar, help text, completion type, and how the value is
  validated and stored);
* ``PROGRAMS``: for each of the nine programs, its options in the
  reference order and its positional-argument completion;
* a re-implementation of Haskell's ``System.Console.GetOpt`` in ``Permute``
  mode (:func:`getopt`), of its ``usageInfo`` table formatting
  (:func:`usage_info`) and of Ganeti's ``parseOptsInner`` (:func:`parse_cmdline`)
  with the reference's error texts and exit statuses.

Nothing here imports heavy modules: this runs at every program start-up.
"""
from __future__ import annotations

import os
from operator import itemgetter

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from htools.haskell.read import ReadError, try_read_double, try_read_int
from htools.units import parse_unit
from htools.constants import COMPILER, PRIORITY_VALUES, VERSION
from htools.haskell.getopt import (
    NO_ARG, OPT_ARG, REQ_ARG, OptDescr, OptionValueError, getopt, usage_info,
)
from htools.haskell.show import show_string

__all__ = [
    "Options", "RSpec", "OptDescr", "OPTION_TABLE", "PROGRAMS", "GENERIC_OPTIONS",
    "PROGRAM_NAMES", "VERSION", "CommandLineExit", "OptionValueError",
    "program_options", "hidden_options", "HIDDEN_OPTIONS", "getopt", "usage_info", "usage_help", "version_info",
    "completion_info", "parse_cmdline", "default_query_socket",
    "parse_ispec_string", "parse_yes_no", "sep_split", "DISK_TEMPLATES",
    "PRIORITIES", "PRIORITY_VALUES", "NO_ARG", "REQ_ARG", "OPT_ARG",
]


#: Disk template raw names, in Ganeti's enumeration order.
DISK_TEMPLATES = ("diskless", "file", "sharedfile", "plain", "blockdev",
                  "drbd", "rbd", "ext", "gluster")
#: Job priorities accepted by ``--priority``, in Ganeti's order.
PRIORITIES = ("low", "normal", "high")
#: Numeric opcode priority of each ``--priority`` name.


class RSpec(tuple):
    """A resource spec from ``--standard-alloc``/``--tiered-alloc``.

    Same fields as Haskell's ``RSpec``: cpu count, memory (MiB), disk (MiB),
    spindles (1 when not given); all ints.  A tuple with named fields
    (``collections.namedtuple`` compiles code at every start-up).
    """
    __slots__ = ()

    def __new__(cls, cpu: int, mem: int, dsk: int, spn: int) -> "RSpec":
        return tuple.__new__(cls, (cpu, mem, dsk, spn))

    cpu = property(itemgetter(0))
    mem = property(itemgetter(1))
    dsk = property(itemgetter(2))
    spn = property(itemgetter(3))

    def __repr__(self) -> str:
        return "RSpec(cpu=%r, mem=%r, dsk=%r, spn=%r)" % self


def default_query_socket() -> str:
    """Ganeti's ``Path.defaultQuerySocket`` (honours ``$GANETI_ROOTDIR``)."""
    return os.environ.get("GANETI_ROOTDIR", "") + \
        "/var/run/ganeti/socket/ganeti-query"


#: marks the list-valued options (a fresh empty list per Options)
_LIST: List[str] = []


class Options:
    """Parsed command-line options; defaults as ``CLI.defaultOptions``.

    Order-sensitive lists (``offline``, ``node_sim``) are kept exactly as
    the reference keeps them: each new occurrence is *prepended*, so they
    are in reverse command-line order.
    """
    data_file: Optional[str] = None            # -t/--text-data
    disk_moves: bool = True                    # --no-disk-moves -> False
    inst_moves: bool = True                    # --no-instance-moves -> False
    disk_template: Optional[str] = None        # --disk-template (raw name)
    spindle_use: Optional[int] = None          # --spindle-use
    dynu_file: Optional[str] = None            # -U/--dynu-file
    ignore_dynu: bool = False                  # --ignore-dynu
    ignore_soft_errors: bool = False           # --ignore-soft-errors
    independent_groups: bool = False           # --independent-groups
    accept_existing: bool = False              # --accept-existing-errors
    mond: bool = False                         # --mond[=yes|no]
    mond_file: Optional[str] = None            # --mond-data
    mond_xen: bool = False                     # --mond-xen
    mond_exit_missing: bool = False            # --exit-on-missing-mond-data
    evac_mode: bool = False                    # -E/--evac-mode
    restricted_migrate: bool = False           # --restricted-migration
    exclude_instances: List[str] = _LIST   # --exclude-instances
    exclusion_tags: Optional[List[str]] = None  # --exclusion-tags
    exec_jobs: bool = False                    # -X/--exec
    dry_run: bool = False                      # --dry-run
    first_job_group: bool = False              # --first-job-group
    force: bool = False                        # -f/--force
    full_evacuation: bool = False              # --full-evacuation
    group: Optional[str] = None                # -G/--group
    ialloc_src: Optional[str] = None           # -I/--ialloc-src
    ignore_non_redundant: bool = False         # --ignore-non-redundant
    select_instances: List[str] = _LIST    # --select-instances
    luxi: Optional[str] = None                 # -L/--luxi[=SOCKET]
    job_delay: float = 10.0                    # --job-delay
    machine_readable: bool = False             # --machine-readable[=yes|no]
    master: str = ""                           # -m/--master
    max_length: int = -1                       # -l/--max-length
    max_cpu: Optional[float] = None            # --max-cpu
    min_disk: float = 0.0                      # --min-disk
    min_gain: float = 1e-2                     # -g/--min-gain
    min_gain_limit: float = 1e-1               # --min-gain-limit
    min_resources: float = 2.0                 # --minimal-resources
    min_score: float = 1e-9                    # -e/--min-score
    no_headers: bool = False                   # --no-headers
    no_simulation: bool = False                # --no-simulation
    node_sim: List[str] = _LIST  # --simulate (reversed!)
    node_tags: Optional[List[str]] = None      # --node-tags
    offline: List[str] = _LIST   # -O/--offline (reversed!)
    restrict_to_nodes: Optional[List[str]] = None  # --restrict-allocation-to
    offline_maintenance: bool = False          # --offline-maintenance
    one_step_only: bool = False                # --one-step-only
    output_dir: str = "."                      # -d/--output-dir
    print_moves: bool = False                  # --print-moves
    reason: Optional[str] = None               # --reason
    save_cluster: Optional[str] = None         # -S/--save
    print_commands: Optional[str] = None       # -C/--print-commands[=FILE] ("-" = stdout)
    show_help: bool = False                    # -h/--help
    show_comp: bool = False                    # --help-completion
    print_instances: bool = False              # --print-instances
    print_nodes: Optional[List[str]] = None    # -p/--print-nodes[=FIELDS]
    show_ver: bool = False                     # -V/--version
    skip_non_redundant: bool = False           # --skip-non-redundant
    static_kvm_node_memory: int = 4096         # --static-kvm-node-memory
    std_spec: Optional[RSpec] = None           # --standard-alloc
    target_resources: float = 2.0              # --target-resources
    test_count: Optional[int] = None           # (no option; unit tests only)
    tiered_spec: Optional[RSpec] = None        # --tiered-alloc
    replay: Optional[str] = None               # (no option; unit tests only)
    verbose: int = 1                           # -v/--verbose, -q/--quiet
    priority: Optional[str] = None             # --priority (low|normal|high)
    capacity: bool = True                      # --no-capacity-checks -> False
    search: str = "exhaustive"                 # --search (hbal extension)
    threads: Optional[int] = None              # --threads (hbal, hcheck extension)
    opt_time_limit: float = 60.0               # --opt-time-limit (hbal extension)
    opt_move_cost: float = 0.01                # --opt-move-cost (hbal extension)
    opt_disk_cost: float = 0.002               # --opt-disk-cost (hbal extension)
    opt_mem_cost: float = 0.0005              # --opt-mem-cost (hbal extension)
    opt_disk_budget: Optional[float] = None    # --opt-disk-budget (hbal extension)
    pending_jobs: str = "wait"                 # --pending-jobs (-X extension)
    rapi_auth: Optional[str] = None            # --rapi-auth=FILE (-m -X extension)
    pool_data: Optional[str] = None            # --pool-data=FILE (storage pools)
    storage_pools: Optional[List[str]] = None  # --storage-pools[=VG,...] (-L)
    pool: Optional[str] = None                 # hspace --pool=VG[:METAVG]
    print_pools: bool = False                  # --print-pools
    rapi_ca: Optional[str] = None              # --rapi-ca=FILE (-m -X extension)
    rapi_insecure: bool = False                # --rapi-insecure (-m -X extension)
    reboot_command: Optional[str] = None       # --reboot-command (hroller extension)
    reboot_timeout: int = 1800                 # --reboot-timeout (hroller extension)
    state_file: Optional[str] = None           # --state-file (hroller extension)
    html_report: Optional[str] = None          # --html-report=FILE (extension)

    def __init__(self, **values) -> None:
        for name in _LIST_FIELDS:
            setattr(self, name, [])
        for name, value in values.items():
            if name not in _FIELD_SET:
                raise TypeError("Options has no field %r" % name)
            setattr(self, name, value)

    def __eq__(self, other) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in FIELDS)

    def __repr__(self) -> str:
        return "Options(%s)" % ", ".join("%s=%r" % (n, getattr(self, n))
                                         for n in FIELDS)


#: the option fields, in declaration order (``Options`` is a plain class, not
#: a dataclass: it is built at every start-up, where a 74-field dataclass
#: costs 2 ms)
FIELDS = tuple(Options.__annotations__)
_FIELD_SET = frozenset(FIELDS)
_LIST_FIELDS = tuple(n for n in FIELDS if getattr(Options, n) is _LIST)
for _name in _LIST_FIELDS:
    delattr(Options, _name)
del _name


#: Haskell-derived snake_case names that differ from the field names above;
#: they are available as read/write alias properties on :class:`Options`.
OPTION_ALIASES = {
    "ex_inst": "exclude_instances",
    "ex_tags": "exclusion_tags",
    "sel_inst": "select_instances",
    "mcpu": "max_cpu",
    "mdsk": "min_disk",
    "min_gain_lim": "min_gain_limit",
    "out_path": "output_dir",
    "show_cmds": "print_commands",
    "show_insts": "print_instances",
    "show_nodes": "print_nodes",
}


def _alias(target: str) -> property:
    return property(lambda self: getattr(self, target),
                    lambda self, value: setattr(self, target, value),
                    doc="Alias of :attr:`%s`." % target)


for _name, _target in OPTION_ALIASES.items():
    setattr(Options, _name, _alias(_target))
del _name, _target


# ---------------------------------------------------------------- option table

def sep_split(s: str) -> List[str]:
    """Ganeti's ``sepSplit ','``: ``""`` -> ``[]``, else a plain split."""
    return s.split(",") if s else []



#: tools whose allocation core evaluates two-node targets on several
#: threads ($HTOOLS_THREADS; they have no --threads option)
_ALLOCATING = ("hail", "hspace")

def parse_yes_no(default: bool, value: Optional[str]) -> bool:
    """Ganeti's ``parseYesNo``."""
    if value is None:
        return default
    if value == "yes":
        return True
    if value == "no":
        return False
    raise OptionValueError("Invalid choice '%s', pass one of 'yes' or 'no'"
                           % value)


def _read_int(name: str, s: str) -> int:
    try:
        return try_read_int(name, s)
    except ReadError as e:
        raise OptionValueError(str(e)) from None


def _read_double(name: str, s: str) -> float:
    try:
        return try_read_double(name, s)
    except ReadError as e:
        raise OptionValueError(str(e)) from None


def parse_ispec_string(descr: str, inp: str) -> RSpec:
    """Ganeti's ``parseISpecString``: ``disk,ram,cpu[,spindles]``."""
    sp = sep_split(inp)
    if len(sp) < 3 or len(sp) > 4:
        raise OptionValueError("Invalid %s specification: '%s', expected "
                               "disk,ram,cpu" % (descr, inp))
    vals = []
    for i, val in enumerate(sp):
        if i == 0 or i == 1:
            what = "disk" if i == 0 else "memory"
            try:
                vals.append(parse_unit(val))
            except ReadError as e:
                raise OptionValueError("%s specs %s: %s" % (descr, what, e)) \
                    from None
        else:
            what = "cpus" if i == 2 else "spindles"
            vals.append(_read_int("%s specs %s" % (descr, what), val))
    spn = vals[3] if len(vals) == 4 else 1
    return RSpec(cpu=vals[2], mem=vals[1], dsk=vals[0], spn=spn)


def _setter(attr: str, value):
    def apply(o: Options, _v) -> None:
        setattr(o, attr, value)
    return apply


def _store(attr: str):
    def apply(o: Options, v) -> None:
        setattr(o, attr, v)
    return apply


def _store_split(attr: str):
    def apply(o: Options, v) -> None:
        setattr(o, attr, sep_split(v))
    return apply


def _store_read(attr: str, name: str, reader):
    def apply(o: Options, v) -> None:
        setattr(o, attr, reader(name, v))
    return apply


def _apply_print_nodes(o: Options, v: Optional[str]) -> None:
    f = v or ""
    if f.startswith("+"):
        o.print_nodes = ["+"] + sep_split(f[1:])
    else:
        o.print_nodes = sep_split(f)


def _apply_luxi(o: Options, v: Optional[str]) -> None:
    o.luxi = default_query_socket() if v is None else v


def _apply_storage_pools(o: Options, v: Optional[str]) -> None:
    o.storage_pools = [] if v is None else sep_split(v)


def _apply_print_commands(o: Options, v: Optional[str]) -> None:
    o.print_commands = "-" if v is None else v


def _apply_disk_template(o: Options, v: str) -> None:
    if v not in DISK_TEMPLATES:
        raise OptionValueError('Invalid string value for type DiskTemplate: '
                               '%s' % show_string(v))
    o.disk_template = v


def _apply_spindle_use(o: Options, v: str) -> None:
    su = _read_int("parsing spindle-use", v)
    if su < 0:
        raise OptionValueError("Invalid value of the spindle-use (expected >= 0)")
    o.spindle_use = su


def _apply_max_cpu(o: Options, v: str) -> None:
    mcpu = _read_double("parsing max-cpu", v)
    if mcpu <= 0:
        raise OptionValueError("Invalid value of the max-cpu ratio, expected >0")
    o.max_cpu = mcpu


def _apply_priority(o: Options, v: str) -> None:
    if v not in PRIORITY_VALUES:
        raise OptionValueError("Unknown priority '%s'" % v)
    o.priority = v


#: hbal --search values (htools.balance.compiled.SEARCH_MODES)
SEARCH_MODES = ("exhaustive", "pruned", "optimal")


def _apply_search(o: Options, v: str) -> None:
    if v not in SEARCH_MODES:
        raise OptionValueError("Unknown search mode '%s' (expected %s or %s)"
                               % (v, ", ".join(SEARCH_MODES[:-1]), SEARCH_MODES[-1]))
    o.search = v


def _apply_threads(o: Options, v: str) -> None:
    try:
        o.threads = int(v)
    except ValueError:
        o.threads = 0
    if o.threads < 1:
        raise OptionValueError("Invalid number of threads '%s' (expected a "
                               "positive integer)" % v)
def _nonneg_double(attr: str, what: str):
    """A setter of a non-negative number (hbal's --opt-* options)."""
    def apply(o: Options, v: str) -> None:
        val = _read_double("parsing " + what, v)
        if not val >= 0:
            raise OptionValueError("Invalid value of the %s, expected >=0" % what)
        setattr(o, attr, val)
    return apply


def _apply_reboot_timeout(o: Options, v: str) -> None:
    try:
        o.reboot_timeout = int(v)
    except ValueError:
        raise OptionValueError("Invalid reboot timeout '%s'" % v) from None
    if o.reboot_timeout <= 0:
        raise OptionValueError("Invalid reboot timeout '%s'" % v)


#: --pending-jobs values (cluster.execute.wait_for_earlier_runs)
PENDING_JOBS_MODES = ("wait", "refuse", "ignore")


def _apply_pending_jobs(o: Options, v: str) -> None:
    if v not in PENDING_JOBS_MODES:
        raise OptionValueError("Unknown pending-jobs mode '%s' (expected %s)"
                               % (v, ", ".join(PENDING_JOBS_MODES)))
    o.pending_jobs = v


def _apply_yes_no(attr: str):
    def apply(o: Options, v: Optional[str]) -> None:
        setattr(o, attr, parse_yes_no(True, v))
    return apply


def _apply_prepend(attr: str):
    def apply(o: Options, v: str) -> None:
        setattr(o, attr, [v] + getattr(o, attr))
    return apply


def _apply_verbose(delta: int):
    def apply(o: Options, _v) -> None:
        o.verbose += delta
    return apply


def _apply_spec(attr: str, descr: str):
    def apply(o: Options, v: str) -> None:
        setattr(o, attr, parse_ispec_string(descr, v))
    return apply


def _luxi_help() -> str:
    return ("collect data via Luxi, optionally using the given SOCKET path [%s]"
            % default_query_socket())


def _mk(key, shorts, long, kind, metavar, help, completion, apply) -> OptDescr:
    return OptDescr(key, shorts, [long], kind, metavar, help, completion, apply)


# Help strings are user-visible facts of the reference and must match it.
_OPTS = [
    _mk("text-data", "t", "text-data", REQ_ARG, "FILE",
        "the cluster data FILE", "file", _store("data_file")),
    _mk("no-disk-moves", "", "no-disk-moves", NO_ARG, None,
        "disallow disk moves from the list of allowed instance changes, thus "
        "allowing only the 'cheap' failover/migrate operations",
        "none", _setter("disk_moves", False)),
    _mk("mond", "", "mond", OPT_ARG, "CHOICE",
        "pass either 'yes' or 'no' to query all monDs",
        "choices=yes,no", _apply_yes_no("mond")),
    _mk("mond-data", "", "mond-data", REQ_ARG, "FILE",
        "Import data provided by MonDs from the given FILE",
        "file", _store("mond_file")),
    _mk("mond-xen", "", "mond-xen", NO_ARG, None,
        "also consider xen-specific collectors in MonD queries",
        "none", _setter("mond_xen", True)),
    _mk("exit-on-missing-mond-data", "", "exit-on-missing-mond-data", NO_ARG,
        None,
        "abort if the data available from the monitoring daemons is incomplete",
        "none", _setter("mond_exit_missing", True)),
    _mk("disk-template", "", "disk-template", REQ_ARG, "TEMPLATE",
        "select the desired disk template",
        "choices=" + ",".join(DISK_TEMPLATES), _apply_disk_template),
    _mk("spindle-use", "", "spindle-use", REQ_ARG, "SPINDLES",
        "select how many virtual spindle instances use [default read from "
        "cluster]", "float", _apply_spindle_use),
    _mk("select-instances", "", "select-instances", REQ_ARG, "INSTS",
        "only select given instances for any moves",
        "manyinstances", _store_split("select_instances")),
    _mk("no-instance-moves", "", "no-instance-moves", NO_ARG, None,
        "disallow instance (primary node) moves from the list of allowed, "
        "instance changes, thus allowing only slower, but sometimes safer, "
        "drbd secondary changes", "none", _setter("inst_moves", False)),
    _mk("dynu-file", "U", "dynu-file", REQ_ARG, "FILE",
        "Import dynamic utilisation data from the given FILE",
        "file", _store("dynu_file")),
    _mk("ignore-dynu", "", "ignore-dynu", NO_ARG, None,
        "Ignore any dynamic utilisation information",
        "none", _setter("ignore_dynu", True)),
    _mk("ignore-soft-errors", "", "ignore-soft-errors", NO_ARG, None,
        "Ignore any soft restrictions in balancing",
        "none", _setter("ignore_soft_errors", True)),
    _mk("independent-groups", "", "independent-groups", NO_ARG, None,
        "Consider groups independently",
        "none", _setter("independent_groups", True)),
    _mk("accept-existing-errors", "", "accept-existing-errors", NO_ARG, None,
        "Accept existing N+1 violations; just don't add new ones",
        "none", _setter("accept_existing", True)),
    _mk("evac-mode", "E", "evac-mode", NO_ARG, None,
        "enable evacuation mode, where the algorithm only moves instances away "
        "from offline and drained nodes", "none", _setter("evac_mode", True)),
    _mk("restricted-migration", "", "restricted-migration", NO_ARG, None,
        "disallow replace-primary moves (aka frf-moves); in evacuation mode, "
        "this will ensure that the only migrations are off the drained nodes",
        "none", _setter("restricted_migrate", True)),
    _mk("exclude-instances", "", "exclude-instances", REQ_ARG, "INSTS",
        "exclude given instances from any moves",
        "manyinstances", _store_split("exclude_instances")),
    _mk("exclusion-tags", "", "exclusion-tags", REQ_ARG, "TAG,...",
        "Enable instance exclusion based on given tag prefix",
        "string", _store_split("exclusion_tags")),
    _mk("exec", "X", "exec", NO_ARG, None,
        "execute the suggested moves via Luxi (only available when using it "
        "for data gathering)", "none", _setter("exec_jobs", True)),
    _mk("dry-run", "", "dry-run", NO_ARG, None,
        "do not execute any commands and just report what would be done",
        "none", _setter("dry_run", True)),
    _mk("reason", "", "reason", REQ_ARG, "REASON",
        "The reason to pass to the submitted jobs", "none", _store("reason")),
    _mk("first-job-group", "", "first-job-group", NO_ARG, None,
        "only execute the first group of jobs",
        "none", _setter("first_job_group", True)),
    _mk("force", "f", "force", NO_ARG, None,
        "force the execution of this program, even if warnings would otherwise "
        "prevent it", "none", _setter("force", True)),
    _mk("full-evacuation", "", "full-evacuation", NO_ARG, None,
        "fully evacuate the nodes to be rebooted",
        "none", _setter("full_evacuation", True)),
    _mk("group", "G", "group", REQ_ARG, "ID",
        "the target node group (name or UUID)", "onegroup", _store("group")),
    _mk("ialloc-src", "I", "ialloc-src", REQ_ARG, "FILE",
        "Specify an iallocator spec as the cluster data source",
        "file", _store("ialloc_src")),
    _mk("ignore-non-redundant", "", "ignore-non-redundant", NO_ARG, None,
        "Pretend that there are no non-redundant instances in the cluster",
        "none", _setter("ignore_non_redundant", True)),
    _mk("job-delay", "", "job-delay", REQ_ARG, "SECONDS",
        "insert this much delay before the execution of repair jobs to allow "
        "the tool to continue processing instances",
        "float", _store_read("job_delay", "job delay", _read_double)),
    _mk("luxi", "L", "luxi", OPT_ARG, "SOCKET", _luxi_help, "file",
        _apply_luxi),
    _mk("machine-readable", "", "machine-readable", OPT_ARG, "CHOICE",
        "enable machine readable output (pass either 'yes' or 'no' to "
        "explicitly control the flag, or without an argument defaults to yes)",
        "choices=yes,no", _apply_yes_no("machine_readable")),
    _mk("max-cpu", "", "max-cpu", REQ_ARG, "RATIO",
        "maximum virtual-to-physical cpu ratio for nodes (from 0 upwards) "
        "[default read from cluster]", "float", _apply_max_cpu),
    _mk("max-length", "l", "max-length", REQ_ARG, "N",
        "cap the solution at this many balancing or allocation rounds (useful "
        "for very unbalanced clusters or empty clusters)", "integer",
        _store_read("max_length", "max solution length", _read_int)),
    _mk("min-disk", "", "min-disk", REQ_ARG, "RATIO",
        "minimum free disk space for nodes (between 0 and 1) [0]", "float",
        _store_read("min_disk", "min free disk space", _read_double)),
    _mk("min-gain", "g", "min-gain", REQ_ARG, "DELTA",
        "minimum gain to aim for in a balancing step before giving up",
        "float", _store_read("min_gain", "min gain", _read_double)),
    _mk("min-gain-limit", "", "min-gain-limit", REQ_ARG, "SCORE",
        "minimum cluster score for which we start checking the min-gain",
        "float", _store_read("min_gain_limit", "min gain limit", _read_double)),
    _mk("minimal-resources", "", "minimal-resources", REQ_ARG, "FACTOR",
        "minimal resources to be present on each in multiples of the standard "
        "allocation for not onlining standby nodes", "float",
        _store_read("min_resources", "minimal resources", _read_double)),
    _mk("min-score", "e", "min-score", REQ_ARG, "EPSILON",
        "mininum excess to the N+1 limit to aim for", "float",
        _store_read("min_score", "min score", _read_double)),
    _mk("no-headers", "", "no-headers", NO_ARG, None,
        "do not show a header line", "none", _setter("no_headers", True)),
    _mk("no-simulation", "", "no-simulation", NO_ARG, None,
        "do not perform rebalancing simulation",
        "none", _setter("no_simulation", True)),
    _mk("simulate", "", "simulate", REQ_ARG, "SPEC",
        "simulate an empty cluster, given as "
        "'alloc_policy,num_nodes,disk,ram,cpu'", "string",
        _apply_prepend("node_sim")),
    _mk("node-tags", "", "node-tags", REQ_ARG, "TAG,...",
        "Restrict to nodes with the given tags", "string",
        _store_split("node_tags")),
    _mk("offline-maintenance", "", "offline-maintenance", NO_ARG, None,
        "Schedule offline maintenance, i.e., pretend that all instance are "
        "offline.", "none", _setter("offline_maintenance", True)),
    _mk("offline", "O", "offline", REQ_ARG, "NODE",
        "set node as offline", "onenode", _apply_prepend("offline")),
    _mk("restrict-allocation-to", "", "restrict-allocation-to", REQ_ARG,
        "NODE,...", "Restrict allocations to the given set of nodes",
        "manynodes", _store_split("restrict_to_nodes")),
    _mk("one-step-only", "", "one-step-only", NO_ARG, None,
        "Only do the first step", "none", _setter("one_step_only", True)),
    _mk("output-dir", "d", "output-dir", REQ_ARG, "PATH",
        "directory in which to write output files", "dir",
        _store("output_dir")),
    _mk("print-commands", "C", "print-commands", OPT_ARG, "FILE",
        "print the ganeti command list for reaching the solution, if an "
        "argument is passed then write the commands to a file named as such",
        "none", _apply_print_commands),
    _mk("print-instances", "", "print-instances", NO_ARG, None,
        "print the final instance map", "none",
        _setter("print_instances", True)),
    _mk("print-moves", "", "print-moves", NO_ARG, None,
        "print the moves of the instances", "none",
        _setter("print_moves", True)),
    _mk("print-nodes", "p", "print-nodes", OPT_ARG, "FIELDS",
        "print the final node list", "none", _apply_print_nodes),
    _mk("quiet", "q", "quiet", NO_ARG, None,
        "decrease the verbosity level", "none", _apply_verbose(-1)),
    _mk("master", "m", "master", REQ_ARG, "ADDRESS",
        "collect data via RAPI at the given ADDRESS", "host",
        _store("master")),
    _mk("save", "S", "save", REQ_ARG, "FILE",
        "Save cluster state at the end of the processing to FILE", "none",
        _store("save_cluster")),
    _mk("skip-non-redundant", "", "skip-non-redundant", NO_ARG, None,
        "Skip nodes that host a non-redundant instance", "none",
        _setter("skip_non_redundant", True)),
    _mk("static-kvm-node-memory", "", "static-kvm-node-memory", REQ_ARG, "N",
        "use static node memory [in MB] on KVM instead of value reported by "
        "hypervisor. Use 0 to take value reported from hypervisor.",
        "integer", _store_read("static_kvm_node_memory", "static node memory",
                               _read_int)),
    _mk("standard-alloc", "", "standard-alloc", REQ_ARG, "STDSPEC",
        "enable standard specs allocation, given as 'disk,ram,cpu'", "string",
        _apply_spec("std_spec", "standard")),
    _mk("target-resources", "", "target-resources", REQ_ARG, "FACTOR",
        "target resources to be left on each node after squeezing in multiples "
        "of the standard allocation", "float",
        _store_read("target_resources", "target resources", _read_double)),
    _mk("tiered-alloc", "", "tiered-alloc", REQ_ARG, "TSPEC",
        "enable tiered specs allocation, given as 'disk,ram,cpu'", "string",
        _apply_spec("tiered_spec", "tiered")),
    _mk("verbose", "v", "verbose", NO_ARG, None,
        "increase the verbosity level", "none", _apply_verbose(1)),
    _mk("priority", "", "priority", REQ_ARG, "PRIO",
        "set the priority of submitted jobs",
        "choices=" + ",".join(PRIORITIES), _apply_priority),
    _mk("no-capacity-checks", "", "no-capacity-checks", NO_ARG, None,
        "disable capacity checks (like global N+1 redundancy)", "none",
        _setter("capacity", False)),
    # hroller extensions (not in the reference; appended to hroller's list)
    _mk("rebalance-after", "", "rebalance-after", NO_ARG, None,
        "also print the hbal plan for after the maintenance", "none",
        _setter("rebalance_after", True)),
    _mk("json", "", "json", NO_ARG, None,
        "print groups, moves and plan as JSON", "none",
        _setter("json", True)),
    # hbal extension (not in the reference; see HIDDEN_OPTIONS)
    _mk("search", "", "search", REQ_ARG, "MODE",
        "move search: exhaustive (default, as htools) or pruned (faster "
        "on large clusters, other moves)",
        "choices=" + ",".join(SEARCH_MODES), _apply_search),
    # hbal and hcheck extension (see HIDDEN_OPTIONS)
    _mk("threads", "", "threads", REQ_ARG, "N",
        "threads evaluating the moves of a step (default: $HTOOLS_THREADS, "
        "else the CPUs available; the result does not depend on it)", "none",
        _apply_threads),
] + [
    _mk("opt-" + name, "", "opt-" + name, REQ_ARG, metavar,
        "--search=optimal: " + text, "none",
        _nonneg_double("opt_" + name.replace("-", "_"),
                       "optimal search " + name.replace("-", " ")))
    for name, metavar, text in (
        ("time-limit", "SECONDS", "wall-clock limit of the search (default 60)"),
        ("move-cost", "SCORE", "cost of one move in score units (default 0.01)"),
        ("disk-cost", "SCORE", "cost of one GiB of disk copied (default 0.002)"),
        ("mem-cost", "SCORE", "cost of one GiB of memory migrated (default 0.0005)"),
        ("disk-budget", "GIB", "GiB of disk the planned moves copy at most"))
] + [
    # -X extension of hbal and hsqueeze (see HIDDEN_OPTIONS)
    _mk("pending-jobs", "", "pending-jobs", REQ_ARG, "MODE",
        "unfinished jobs of an earlier hbal/hsqueeze run: wait (default), "
        "refuse or ignore", "choices=" + ",".join(PENDING_JOBS_MODES),
        _apply_pending_jobs),
    # execution over RAPI, hbal and hsqueeze (see HIDDEN_OPTIONS)
    _mk("rapi-auth", "", "rapi-auth", REQ_ARG, "FILE",
        "file with the RAPI user and password for -m -X", "file",
        _store("rapi_auth")),
    _mk("rapi-ca", "", "rapi-ca", REQ_ARG, "FILE",
        "CA (or the server's certificate) to verify RAPI with for -m -X",
        "file", _store("rapi_ca")),
    _mk("rapi-insecure", "", "rapi-insecure", NO_ARG, None,
        "do not verify the RAPI server's certificate for -m -X", "none",
        _setter("rapi_insecure", True)),
    # storage pools, hail (see HIDDEN_OPTIONS)
    _mk("pool-data", "", "pool-data", REQ_ARG, "FILE",
        "volume groups of the nodes and disks (the text format's "
        "storage-pool rows)", "file", _store("pool_data")),
    _mk("storage-pools", "", "storage-pools", OPT_ARG, "VG,...",
        "with -L: read the nodes' volume groups and the instances' disks "
        "(read-only jobs) and keep every instance's storage on nodes with "
        "its volume groups; the optional list adds volume groups no "
        "instance uses", "none", _apply_storage_pools),
    _mk("pool", "", "pool", REQ_ARG, "VG[:METAVG]",
        "the simulated instances' disks on volume group VG (DRBD meta LVs "
        "on METAVG, default VG): capacity of that storage pool", "none",
        _store("pool")),
    _mk("print-pools", "", "print-pools", NO_ARG, None,
        "print the storage pools (volume groups) of the nodes", "none",
        _setter("print_pools", True)),
    # rolling reboots, hroller (see HIDDEN_OPTIONS and cluster.rolling)
    _mk("reboot-command", "", "reboot-command", REQ_ARG, "COMMAND",
        "run the rolling reboot: COMMAND reboots node {node}", "none",
        _store("reboot_command")),
    _mk("reboot-timeout", "", "reboot-timeout", REQ_ARG, "SECONDS",
        "how long a rebooted node may take to come back", "none",
        _apply_reboot_timeout),
    _mk("state-file", "", "state-file", REQ_ARG, "FILE",
        "where the rolling reboot keeps its progress", "file",
        _store("state_file")),
    # the HTML report of hbal, hspace, hinfo, hcheck, hroller (htools.html)
    _mk("html-report", "", "html-report", REQ_ARG, "FILE",
        "also write the results as one self-contained HTML page to FILE",
        "file", _store("html_report")),
    # generic options (Ganeti.Common)
    _mk("version", "V", "version", NO_ARG, None,
        "show the version of the program", "none", _setter("show_ver", True)),
    _mk("help", "h", "help", NO_ARG, None, "show help", "none",
        _setter("show_help", True)),
    _mk("help-completion", "", "help-completion", NO_ARG, None,
        "show completion info", "none", _setter("show_comp", True)),
]

#: Every option, keyed by its long name.
OPTION_TABLE: Dict[str, OptDescr] = {d.key: d for d in _OPTS}
del _OPTS

#: Options every program accepts, appended after its own.
GENERIC_OPTIONS = ("version", "help", "help-completion")


class ProgramSpec(tuple):
    """A program's options (long names in the reference's order, without the
    generic ones), its ``--help-completion`` argument lines and its one-line
    role description (htools usage)."""
    __slots__ = ()

    def __new__(cls, options: Tuple[str, ...], arguments: Tuple[str, ...],
                description: str) -> "ProgramSpec":
        return tuple.__new__(cls, (options, arguments, description))

    options = property(itemgetter(0))
    arguments = property(itemgetter(1))
    description = property(itemgetter(2))


# Option order = each Program/*.hs ``options`` list (verified against the
# reference's --help output).
PROGRAMS: Dict[str, ProgramSpec] = {
    "hail": ProgramSpec((
        "print-nodes", "save", "text-data", "simulate", "verbose",
        "ignore-dynu", "ignore-soft-errors", "no-capacity-checks",
        "restrict-allocation-to", "mond", "mond-xen", "static-kvm-node-memory",
    ), ("file 1 1",),
        "Ganeti IAllocator plugin that implements the instance placement and "
        "movement using the same algorithm as hbal(1)"),
    "harep": ProgramSpec((
        "luxi", "job-delay", "reason", "dry-run",
    ), (),
        "auto-repair tool that detects certain kind of problems with instances "
        "and applies the allowed set of solutions"),
    "hbal": ProgramSpec((
        "print-nodes", "print-instances", "print-commands", "text-data",
        "evac-mode", "restricted-migration", "master", "luxi", "ialloc-src",
        "exec", "first-job-group", "reason", "group", "max-length", "verbose",
        "quiet", "offline", "static-kvm-node-memory", "min-score", "max-cpu",
        "min-disk", "min-gain", "min-gain-limit", "no-disk-moves",
        "select-instances", "no-instance-moves", "ignore-soft-errors",
        "dynu-file", "ignore-dynu", "mond", "mond-data",
        "exit-on-missing-mond-data", "mond-xen", "exclusion-tags",
        "exclude-instances", "save", "priority",
    ), (),
        "cluster balancer that looks at the current state of the cluster and "
        "computes a series of steps designed to bring the cluster into a "
        "better state"),
    "hcheck": ProgramSpec((
        "text-data", "no-disk-moves", "dynu-file", "ignore-dynu", "evac-mode",
        "exclude-instances", "exclusion-tags", "ialloc-src",
        "no-instance-moves", "luxi", "machine-readable", "max-cpu",
        "max-length", "min-disk", "min-gain", "min-gain-limit", "min-score",
        "ignore-soft-errors", "no-simulation", "offline", "quiet", "master",
        "select-instances", "no-capacity-checks", "verbose",
    ), (),
        "cluster checker; prints information about cluster's health and checks "
        "whether a rebalance done using hbal would help"),
    "hscan": ProgramSpec((
        "print-nodes", "output-dir", "luxi", "verbose", "no-headers",
        "static-kvm-node-memory",
    ), ("host 0 none",),
        "tool for scanning clusters via RAPI and saving their data in the "
        "input format used by hbal(1) and hspace(1)"),
    "hspace": ProgramSpec((
        "print-nodes", "text-data", "disk-template", "spindle-use", "simulate",
        "master", "luxi", "ialloc-src", "verbose", "quiet",
        "independent-groups", "accept-existing-errors", "offline",
        "no-capacity-checks", "machine-readable", "max-cpu", "max-length",
        "min-disk", "standard-alloc", "tiered-alloc", "save",
        "static-kvm-node-memory",
    ), (),
        "computes how many additional instances can be fit on a cluster, while "
        "maintaining N+1 status."),
    "hinfo": ProgramSpec((
        "print-nodes", "print-instances", "text-data", "master", "luxi",
        "ialloc-src", "verbose", "quiet", "offline", "ignore-dynu", "mond",
        "mond-data", "static-kvm-node-memory",
    ), (),
        "cluster information printer; it prints information about the current "
        "cluster state and its residing nodes/instances"),
    "hroller": ProgramSpec((
        "luxi", "master", "text-data", "ialloc-src", "offline",
        "offline-maintenance", "verbose", "quiet", "no-headers", "node-tags",
        "save", "group", "print-moves", "full-evacuation",
        "skip-non-redundant", "ignore-non-redundant", "force", "one-step-only",
        "static-kvm-node-memory",
    ), (),
        "cluster rolling maintenance helper; it helps scheduling node reboots "
        "in a manner that doesn't conflict with the instances' topology"),
    "hsqueeze": ProgramSpec((
        "luxi", "text-data", "exec", "minimal-resources", "target-resources",
        "save", "print-commands", "verbose", "no-headers",
        "static-kvm-node-memory",
    ), (),
        "cluster dynamic power management;  it powers up and down nodes to "
        "keep the amount of free online resources in a given range"),
}

#: Extension options a program accepts but does not list in its --help,
#: --help-completion and usage texts (which stay those of the reference),
#: recognised by their exact long name only (so that abbreviations mean
#: what they mean for the reference).  hbal's are described in
#: :mod:`htools.cli.hbal`.
HIDDEN_OPTIONS: Dict[str, Tuple[str, ...]] = {
    "hbal": ("search", "threads", "pending-jobs", "rapi-auth", "rapi-ca",
             "rapi-insecure", "html-report", "storage-pools", "opt-time-limit",
             "opt-move-cost", "opt-disk-cost", "opt-mem-cost", "opt-disk-budget"),
    "hsqueeze": ("pending-jobs", "rapi-auth", "rapi-ca", "rapi-insecure",
                 "storage-pools"),
    "hail": ("pool-data",),
    "hroller": ("rebalance-after", "json", "reboot-command", "reboot-timeout",
                "state-file", "dry-run", "html-report", "storage-pools"),
    "hinfo": ("html-report", "storage-pools", "print-pools"),
    "hcheck": ("threads", "html-report", "storage-pools", "print-pools"),
    "hspace": ("html-report", "storage-pools", "pool", "print-pools"),
    "hscan": ("storage-pools",),
}

#: The nine programs, in the order of the reference's personality list.
PROGRAM_NAMES = tuple(PROGRAMS)


def program_options(prog: str) -> List[OptDescr]:
    """The full option list of ``prog`` (its own options + generic ones)."""
    spec = PROGRAMS[prog]
    return [OPTION_TABLE[k] for k in spec.options + GENERIC_OPTIONS]


def hidden_options(prog: str) -> List[OptDescr]:
    """``prog``'s unlisted extension options (:data:`HIDDEN_OPTIONS`)."""
    return [OPTION_TABLE[k] for k in HIDDEN_OPTIONS.get(prog, ())]


# ---------------------------------------------------------------- Ganeti layer

class CommandLineExit(Exception):
    """Parsing ended the program: print ``text`` and exit with ``status``.

    ``to_stdout`` tells where the text goes (help/version/completion go to
    stdout with status 0, errors to stderr).
    """

    def __init__(self, status: int, text: str, to_stdout: bool):
        super().__init__(text)
        self.status = status
        self.text = text
        self.to_stdout = to_stdout


def usage_help(prog: str, descrs: Optional[Sequence[OptDescr]] = None) -> str:
    """The ``--help`` text of ``prog``."""
    if descrs is None:
        descrs = program_options(prog)
    return usage_info("%s %s\nUsage: %s [OPTION...]" % (prog, VERSION, prog),
                      descrs)


def _hs_os_arch() -> Tuple[str, str]:
    u = os.uname()
    osname = u.sysname.lower()
    osname = {"darwin": "darwin", "linux": "linux", "freebsd": "freebsd"}.get(
        osname, osname)
    arch = u.machine
    arch = {"amd64": "x86_64", "i686": "i386", "i586": "i386",
            "i486": "i386", "arm64": "aarch64", "ppc64le": "powerpc64le",
            "ppc64": "powerpc64"}.get(arch, arch)
    return osname, arch


def version_info(prog: str) -> str:
    """The ``--version`` text of ``prog`` (three lines)."""
    osname, arch = _hs_os_arch()
    return "%s %s\ncompiled with %s %s\nrunning on %s %s\n" % (
        prog, VERSION, COMPILER[0], COMPILER[1], osname, arch)


def completion_info(prog: str, descrs: Optional[Sequence[OptDescr]] = None) -> str:
    """The ``--help-completion`` text of ``prog``."""
    if descrs is None:
        descrs = program_options(prog)
    lines = []
    for d in descrs:
        names = ["-" + c for c in d.shorts] + ["--" + lo for lo in d.longs]
        lines.append(",".join(names) + " " + d.completion)
    lines.extend(PROGRAMS[prog].arguments if prog in PROGRAMS else ())
    return "".join(line + "\n" for line in lines)


def parse_cmdline(prog: str, argv: Sequence[str],
                  defaults: Optional[Options] = None) -> Tuple[Options, List[str]]:
    """Ganeti's ``parseOpts`` for program ``prog``.

    Returns ``(options, positional_args)``.  Raises
    :class:`CommandLineExit` when the program must stop here: GetOpt errors
    (status 2, message + usage on stderr), bad option values (status 1),
    ``--help``/``--version``/``--help-completion`` (status 0, stdout; help
    wins over version, version over completion).
    """
    descrs = program_options(prog)
    parsed, args, errs = getopt(descrs, argv, hidden_options(prog))
    if errs:
        raise CommandLineExit(
            2, "Command line error: " + "".join(errs) + "\n" +
            usage_help(prog, descrs), False)
    opts = Options() if defaults is None else defaults
    try:
        for d, value in parsed:
            d.apply(opts, value)
    except OptionValueError as e:
        raise CommandLineExit(
            1, "Error while parsing command line arguments:\n%s\n" % e,
            False) from None
    if opts.threads is None and ("threads" in HIDDEN_OPTIONS.get(prog, ())
                                 or prog in _ALLOCATING):
        # $HTOOLS_THREADS is checked before any work (the allocating
        # tools read it again when they evaluate two-node targets)
        from htools.errors import HtoolsError
        from htools.params import thread_count
        try:
            threads = thread_count()
        except HtoolsError as e:
            raise CommandLineExit(1, "Error: %s\n" % e, False) from None
        if prog not in _ALLOCATING:
            opts.threads = threads
    if opts.show_help:
        raise CommandLineExit(0, usage_help(prog, descrs), True)
    if opts.show_ver:
        raise CommandLineExit(0, version_info(prog), True)
    if opts.show_comp:
        raise CommandLineExit(0, completion_info(prog, descrs), True)
    return opts, args


def options_as_dict(opts: Options) -> Dict[str, object]:
    """The option values as a plain dict (field name -> value)."""
    return {name: getattr(opts, name) for name in FIELDS}
