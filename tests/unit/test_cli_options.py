"""Command-line layer: GetOpt-compatible parsing, help/version/completion
texts, error texts and statuses, value conversion and unit parsing.

Texts are compared with the reference binaries when they are installed and
with the recorded copies in tests/golden/help/ otherwise.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from htools.cli.main import COMMANDS, check_args, format_commands
from htools.cli.options import (CommandLineExit, Options, RSpec, getopt,
                                parse_cmdline, program_options)
from htools.errors import HtoolsError
from htools.haskell.read import ReadError, reads_int, try_read_double, try_read_int
from htools.units import UnitError, parse_unit, parse_unit_assume_binary
from tests.harness import refdiff

ROOT = Path(__file__).resolve().parents[2]
REF_BIN = Path("/usr/lib/ganeti/3.0/usr/bin")
REF_HAIL = Path("/usr/lib/ganeti/iallocators/hail")
PROGS = ["hbal", "hail", "hspace", "hroller", "hinfo", "hcheck", "hscan",
         "hsqueeze", "harep"]


def ref_path(prog):
    p = REF_HAIL if prog == "hail" else REF_BIN / prog
    return p if p.exists() else None


def ref_env():
    env = dict(os.environ)
    env.pop("GANETI_ROOTDIR", None)
    env.pop("HTOOLS", None)
    env["LANG"] = env["LC_ALL"] = "C.UTF-8"
    return env


def run_ref(prog, args, tmp_path):
    p = ref_path(prog)
    r = subprocess.run([str(p)] + list(args), cwd=str(tmp_path),
                       env=ref_env(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def run_ours(prog, args, capsys):
    capsys.readouterr()
    status = COMMANDS[prog].main(list(args), standalone_mode=False)
    out, err = capsys.readouterr()
    return status, out, err


GOLDEN_ARGS = {"txt": ["--help"], "completion.txt": ["--help-completion"],
               "version.txt": ["--version"]}


def golden(prog, kind="txt"):
    """The reference's output recorded in tests/golden/help."""
    return refdiff.golden("help", prog, GOLDEN_ARGS[kind])["stdout"]


#: Our extension options (not in the reference), appended to a program's list.
#: extension options listed in a program's --help (none: every extension
#: is hidden, see options.HIDDEN_OPTIONS, so --help stays the reference's)
EXTENSIONS = {}


def strip_extensions(prog, text):
    """``text`` (help or completion) without the lines of our extensions."""
    exts = EXTENSIONS.get(prog, ())
    return "".join(ln for ln in text.splitlines(True)
                   if not any("--%s " % e in ln or "--%s\n" % e in ln
                              for e in exts))


def test_extensions_are_hidden():
    from htools.cli.options import HIDDEN_OPTIONS, hidden_options
    assert HIDDEN_OPTIONS["hroller"][:2] == ("rebalance-after", "json")
    assert HIDDEN_OPTIONS["hbal"][:3] == ("search", "threads", "pending-jobs")
    for prog, exts in HIDDEN_OPTIONS.items():
        listed = {d.longs[0] for d in program_options(prog)}
        assert not listed & set(exts)
        assert [d.longs[0] for d in hidden_options(prog)] == list(exts)
    opts, _ = parse_cmdline("hroller", ["--rebalance-after", "--json"])
    assert opts.rebalance_after and opts.json
    opts, _ = parse_cmdline("hbal", ["--pending-jobs=refuse"])
    assert opts.pending_jobs == "refuse"


def test_threads_option_and_environment(monkeypatch):
    from htools.cli.options import CommandLineExit
    monkeypatch.delenv("HTOOLS_THREADS", raising=False)
    opts, _ = parse_cmdline("hbal", ["--threads=3"])
    assert opts.threads == 3
    opts, _ = parse_cmdline("hcheck", [])
    assert opts.threads >= 1                   # the CPUs available
    monkeypatch.setenv("HTOOLS_THREADS", "5")
    assert parse_cmdline("hbal", [])[0].threads == 5
    assert parse_cmdline("hbal", ["--threads", "2"])[0].threads == 2
    for bad in ("0", "-1", "x"):
        with pytest.raises(CommandLineExit) as ei:
            parse_cmdline("hbal", ["--threads=" + bad])
        assert ei.value.status == 1
        assert "Invalid number of threads '%s'" % bad in ei.value.text
    monkeypatch.setenv("HTOOLS_THREADS", "two")
    with pytest.raises(CommandLineExit) as ei:
        parse_cmdline("hbal", [])
    assert ei.value.status == 1
    assert ei.value.text == ("Error: Invalid value of HTOOLS_THREADS 'two' "
                             "(expected a positive integer)\n")
    # the allocating tools check it before any work (no option of theirs)
    for prog in ("hspace", "hail"):
        with pytest.raises(CommandLineExit) as ei:
            parse_cmdline(prog, [])
        assert ei.value.status == 1 and "HTOOLS_THREADS 'two'" in ei.value.text
    # the others ignore the variable
    assert parse_cmdline("hinfo", [])[0].threads is None
    monkeypatch.setenv("HTOOLS_THREADS", "2")
    assert parse_cmdline("hspace", [])[0].threads is None


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("GANETI_ROOTDIR", raising=False)
    monkeypatch.delenv("HTOOLS", raising=False)


# ------------------------------------------------------------ help & co

@pytest.mark.parametrize("prog", PROGS)
def test_help_matches_golden(prog, capsys):
    status, out, err = run_ours(prog, ["--help"], capsys)
    assert (status, err) == (0, "")
    out = strip_extensions(prog, out)
    assert out == golden(prog)
    assert out.startswith("%s (ganeti) version 3.0.2-3\nUsage: %s [OPTION...]\n"
                          % (prog, prog))


@pytest.mark.parametrize("prog", PROGS)
def test_help_matches_reference(prog, capsys, tmp_path):
    if ref_path(prog) is None:
        pytest.skip("reference binary not installed")
    ref = run_ref(prog, ["--help"], tmp_path)
    status, out, err = run_ours(prog, ["--help"], capsys)
    assert (status, strip_extensions(prog, out), err) == ref
    assert ref[1] == golden(prog), "golden copy is stale"


@pytest.mark.parametrize("prog", PROGS)
def test_completion(prog, capsys, tmp_path):
    status, out, err = run_ours(prog, ["--help-completion"], capsys)
    assert (status, err) == (0, "")
    out = strip_extensions(prog, out)
    assert out == golden(prog, "completion.txt")
    if ref_path(prog) is not None:
        assert run_ref(prog, ["--help-completion"], tmp_path) == (0, out, "")


@pytest.mark.parametrize("prog", PROGS)
def test_version(prog, capsys, tmp_path):
    status, out, err = run_ours(prog, ["-V"], capsys)
    assert (status, err) == (0, "")
    assert out == golden("hbal", "version.txt").replace("hbal", prog)
    if ref_path(prog) is not None:
        assert run_ref(prog, ["--version"], tmp_path) == (0, out, "")


def test_option_order_is_reference_order():
    # the --help table lists exactly the program's option list, in order
    for prog in PROGS:
        lines = golden(prog).splitlines()[2:]
        longs = [ln.split("--", 1)[1].split("[")[0].split("=")[0].split()[0]
                 for ln in lines]
        assert longs == [d.longs[0] for d in program_options(prog)
                         if d.longs[0] not in EXTENSIONS.get(prog, ())], prog


def test_luxi_default_follows_rootdir(monkeypatch, capsys):
    monkeypatch.setenv("GANETI_ROOTDIR", "/foo")
    _, out, _ = run_ours("hinfo", ["--help"], capsys)
    assert "SOCKET path [/foo/var/run/ganeti/socket/ganeti-query]" in out
    opts, _ = parse_cmdline("hinfo", ["-L"])
    assert opts.luxi == "/foo/var/run/ganeti/socket/ganeti-query"


# ------------------------------------------------------------ error cases

def cmdline_error(prog, msg):
    return "Command line error: " + msg + "\n" + golden(prog)


def value_error(msg):
    return "Error while parsing command line arguments:\n" + msg + "\n"


AMBIG_MIN = """\
option `--min' is ambiguous; could be one of:
  -e EPSILON  --min-score=EPSILON     mininum excess to the N+1 limit to aim for
              --min-disk=RATIO        minimum free disk space for nodes (between 0 and 1) [0]
  -g DELTA    --min-gain=DELTA        minimum gain to aim for in a balancing step before giving up
              --min-gain-limit=SCORE  minimum cluster score for which we start checking the min-gain
"""

ERROR_CASES = [
    ("hinfo", ["--bogus"], 2,
     cmdline_error("hinfo", "unrecognized option `--bogus'\n")),
    ("hbal", ["--no-such-option"], 2,
     cmdline_error("hbal", "unrecognized option `--no-such-option'\n")),
    ("hinfo", ["-Z"], 2, cmdline_error("hinfo", "unrecognized option `-Z'\n")),
    ("hbal", ["--min"], 2, cmdline_error("hbal", AMBIG_MIN)),
    # errors are collected; "unrecognized" ones come last
    ("hbal", ["--bogus=1", "-Z", "--min", "-l"], 2,
     cmdline_error("hbal", AMBIG_MIN +
                   "option `-l' requires an argument N\n"
                   "unrecognized option `--bogus=1'\n"
                   "unrecognized option `-Z'\n")),
    ("hbal", ["-l"], 2,
     cmdline_error("hbal", "option `-l' requires an argument N\n")),
    ("hbal", ["--max-len"], 2,
     cmdline_error("hbal", "option `--max-len' requires an argument N\n")),
    ("hbal", ["--help=3"], 2,
     cmdline_error("hbal", "option `--help' doesn't allow an argument\n")),
    ("hbal", ["-vZq"], 2, cmdline_error("hbal", "unrecognized option `-Z'\n")),
    ("hbal", ["-l", "abc"], 1,
     value_error("max solution length: cannot parse string 'abc'")),
    ("hbal", ["-l5 "], 1, value_error(
        "max solution length: leftover characters when parsing '5 ': ' '")),
    ("hbal", ["-l", "1e5"], 1,
     value_error("max solution length: cannot parse string '1e5'")),
    ("hbal", ["--priority=abc"], 1, value_error("Unknown priority 'abc'")),
    ("hbal", ["--mond=maybe"], 1,
     value_error("Invalid choice 'maybe', pass one of 'yes' or 'no'")),
    ("hbal", ["--mond="], 1,
     value_error("Invalid choice '', pass one of 'yes' or 'no'")),
    ("hbal", ["-g", "1."], 1,
     value_error("min gain: leftover characters when parsing '1.': '.'")),
    ("hbal", ["-e", ".5"], 1,
     value_error("min score: cannot parse string '.5'")),
    ("hbal", ["--max-cpu=0"], 1,
     value_error("Invalid value of the max-cpu ratio, expected >0")),
    ("hbal", ["--max-cpu=x"], 1,
     value_error("parsing max-cpu: cannot parse string 'x'")),
    ("hbal", ["--min-disk=x"], 1,
     value_error("min free disk space: cannot parse string 'x'")),
    ("hbal", ["--min-gain-limit=x"], 1,
     value_error("min gain limit: cannot parse string 'x'")),
    ("hbal", ["--static-kvm-node-memory=1.5"], 1,
     value_error("static node memory: cannot parse string '1.5'")),
    # value errors win over --help (all options are applied first)
    ("hbal", ["-h", "-l", "x"], 1,
     value_error("max solution length: cannot parse string 'x'")),
    ("hspace", ["--spindle-use=-1"], 1,
     value_error("Invalid value of the spindle-use (expected >= 0)")),
    ("hspace", ["--spindle-use=1.5"], 1,
     value_error("parsing spindle-use: cannot parse string '1.5'")),
    ("hspace", ["--disk-template=DRBD"], 1,
     value_error('Invalid string value for type DiskTemplate: "DRBD"')),
    ("hspace", ["--standard-alloc=1,2"], 1, value_error(
        "Invalid standard specification: '1,2', expected disk,ram,cpu")),
    ("hspace", ["--tiered-alloc=1,2,3,4,5"], 1, value_error(
        "Invalid tiered specification: '1,2,3,4,5', expected disk,ram,cpu")),
    ("hspace", ["--standard-alloc=1x,2,3"], 1,
     value_error("standard specs disk: Unknown unit 'x'")),
    ("hspace", ["--standard-alloc=1,2x,3"], 1,
     value_error("standard specs memory: Unknown unit 'x'")),
    ("hspace", ["--standard-alloc=1,2,x"], 1,
     value_error("standard specs cpus: cannot parse string 'x'")),
    ("hspace", ["--standard-alloc=1,2,3,x"], 1,
     value_error("standard specs spindles: cannot parse string 'x'")),
    ("hspace", ["--tiered-alloc=a,b,c"], 1,
     value_error("tiered specs disk: Can't parse string 'a'")),
    ("hspace", ["--machine-readable=x"], 1,
     value_error("Invalid choice 'x', pass one of 'yes' or 'no'")),
    ("harep", ["--job-delay=1e"], 1,
     value_error("job delay: leftover characters when parsing '1e': 'e'")),
    ("hsqueeze", ["--minimal-resources=x"], 1,
     value_error("minimal resources: cannot parse string 'x'")),
    ("hsqueeze", ["--target-resources=x"], 1,
     value_error("target resources: cannot parse string 'x'")),
    # stray positional arguments
    ("hbal", ["unexpected-argument"], 1,
     "Error: This program doesn't take any arguments.\n"),
    ("hspace", ["a", "b"], 1,
     "Error: This program doesn't take any arguments.\n"),
    ("hcheck", ["x"], 1, "Error: This program doesn't take any arguments.\n"),
    ("hroller", ["x"], 1, "Error: This program doesn't take any arguments.\n"),
    ("hsqueeze", ["x"], 1, "Error: This program doesn't take any arguments.\n"),
    ("hinfo", ["x"], 1, "Error: This program doesn't take any arguments.\n"),
    ("harep", ["x"], 1, "Error: this program doesn't take any arguments.\n"),
    ("hbal", ["--", "-v"], 1,
     "Error: This program doesn't take any arguments.\n"),
    ("hbal", ["-"], 1, "Error: This program doesn't take any arguments.\n"),
    # -p with a separate argument: the fields become a positional argument
    ("hbal", ["-p", "name,pcnt"], 1,
     "Error: This program doesn't take any arguments.\n"),
    ("hail", [], 1, "Error: This program needs an input file.\n"),
    ("hail", ["-v"], 1, "Error: This program needs an input file.\n"),
    ("hail", ["a", "b"], 1,
     "Error: Only one argument is accepted (the input file)\n"),
]


@pytest.mark.parametrize("prog,args,status,err", ERROR_CASES,
                         ids=["%s %s" % (c[0], " ".join(c[1])) for c in ERROR_CASES])
def test_error_cases(prog, args, status, err, capsys, tmp_path):
    ours = run_ours(prog, args, capsys)
    assert ours == (status, "", err)
    if ref_path(prog) is not None:
        assert run_ref(prog, args, tmp_path) == ours


SUCCESS_CASES = [
    ("hbal", ["-h", "-V"]),            # help wins over version
    ("hbal", ["--help-completion", "-V"]),  # version over completion
    ("hbal", ["--vers"]),              # unique prefix
    ("hbal", ["--help-c"]),
    ("hbal", ["-vvq", "-h"]),
    ("hbal", ["-v-help"]),             # "-v" then "--help"
    ("hbal", ["-l", "0x10", "-h"]),
    ("hbal", ["-pname,pcnt", "-h"]),
    ("hbal", ["-C/tmp/x", "--help"]),
    ("hinfo", ["-h", "-L/tmp/sock", "-Ofoo", "--offline", "bar"]),
    ("hspace", ["--standard-alloc=1g,2G,3", "--tiered-alloc", "8T,100,2,3", "-h"]),
]


@pytest.mark.parametrize("prog,args", SUCCESS_CASES,
                         ids=["%s %s" % (c[0], " ".join(c[1])) for c in SUCCESS_CASES])
def test_success_cases_match_reference(prog, args, capsys, tmp_path):
    ours = run_ours(prog, args, capsys)
    assert ours[0] == 0 and ours[2] == ""
    if ref_path(prog) is not None:
        assert run_ref(prog, args, tmp_path) == ours


def test_help_beats_version_beats_completion(capsys):
    assert run_ours("hbal", ["-V", "-h"], capsys)[1] == golden("hbal")
    _, out, _ = run_ours("hbal", ["--help-completion", "-V"], capsys)
    assert out.startswith("hbal (ganeti) version 3.0.2-3\ncompiled with ")


# ------------------------------------------------------------ parsing

def test_defaults():
    o = Options()
    assert o.min_score == 1e-9
    assert o.min_gain == 0.01 and o.min_gain_limit == 0.1
    assert o.max_length == -1 and o.verbose == 1
    assert o.static_kvm_node_memory == 4096
    assert o.luxi is None and o.master == "" and o.data_file is None
    assert o.offline == [] and o.select_instances == [] and o.exclude_instances == []
    assert o.print_nodes is None and o.print_commands is None
    assert o.disk_moves and o.inst_moves and o.capacity
    assert o.job_delay == 10 and o.min_resources == 2.0 and o.target_resources == 2.0
    assert o.min_disk == 0 and o.max_cpu is None and o.output_dir == "."
    # Haskell-name aliases
    assert o.show_nodes is None and o.min_gain_lim == 0.1 and o.mdsk == 0
    o.sel_inst = ["a"]
    assert o.select_instances == ["a"]


def test_parse_values():
    opts, args = parse_cmdline("hbal", [
        "-t", "file.data", "-pname,pcnt", "-C", "-vv", "-q", "-Onode1",
        "--offline=node2", "--select-instances=a,b", "--exclude-instances", "c",
        "--exclusion-tags=x,y", "-l", "( 7 )", "-g0.5", "--min-gain-limit=1e-3",
        "--max-cpu=8", "--min-disk=0.1", "--mond", "--priority", "high",
        "--no-disk-moves", "--no-instance-moves", "-G", "grp", "-L",
        "--reason=why", "--static-kvm-node-memory=0", "-S", "save", "-X",
        "extra"])
    assert args == ["extra"]
    assert opts.data_file == "file.data"
    assert opts.print_nodes == ["name", "pcnt"]
    assert opts.print_commands == "-"
    assert opts.verbose == 2
    assert opts.offline == ["node2", "node1"]      # Haskell prepends
    assert opts.select_instances == ["a", "b"]
    assert opts.exclude_instances == ["c"]
    assert opts.exclusion_tags == ["x", "y"]
    assert opts.max_length == 7
    assert opts.min_gain == 0.5 and opts.min_gain_limit == 1e-3
    assert opts.max_cpu == 8.0 and opts.min_disk == 0.1
    assert opts.mond is True and opts.priority == "high"
    assert not opts.disk_moves and not opts.inst_moves
    assert opts.group == "grp"
    assert opts.luxi == "/var/run/ganeti/socket/ganeti-query"
    assert opts.reason == "why" and opts.static_kvm_node_memory == 0
    assert opts.save_cluster == "save" and opts.exec_jobs


def test_optional_args_must_be_glued():
    opts, args = parse_cmdline("hbal", ["-p", "name,pcnt"])
    assert opts.print_nodes == [] and args == ["name,pcnt"]
    opts, args = parse_cmdline("hbal", ["--print-nodes", "name"])
    assert opts.print_nodes == [] and args == ["name"]
    opts, _ = parse_cmdline("hbal", ["--print-nodes=+fqdn,idx"])
    assert opts.print_nodes == ["+", "fqdn", "idx"]
    opts, _ = parse_cmdline("hbal", ["--print-nodes="])
    assert opts.print_nodes == []
    opts, args = parse_cmdline("hbal", ["-C/tmp/x.sh", "-L/sock", "-t/f"])
    assert (opts.print_commands, opts.luxi, opts.data_file) == \
        ("/tmp/x.sh", "/sock", "/f")
    opts, args = parse_cmdline("hbal", ["-L", "/sock"])
    assert opts.luxi.endswith("ganeti-query") and args == ["/sock"]
    opts, _ = parse_cmdline("hspace", ["--machine-readable", "--mach=no"])
    assert opts.machine_readable is False
    opts, _ = parse_cmdline("hspace", ["--machine-readable"])
    assert opts.machine_readable is True


def test_required_args_take_next_word():
    # a required argument is taken even if it looks like an option
    opts, args = parse_cmdline("hbal", ["-t", "-v", "--group", "--", "x"])
    assert opts.data_file == "-v" and opts.group == "--" and args == ["x"]
    assert opts.verbose == 1


def test_prefix_abbreviation():
    opts, _ = parse_cmdline("hbal", ["--text=f", "--sel", "a", "--exclude=i",
                                     "--exclusion=t", "--no-d", "--prio=low"])
    assert opts.data_file == "f" and opts.select_instances == ["a"]
    assert opts.exclude_instances == ["i"] and opts.exclusion_tags == ["t"]
    assert not opts.disk_moves and opts.priority == "low"
    # exact match wins over a longer option sharing the prefix
    opts, _ = parse_cmdline("hbal", ["--mond", "--min-gain=2"])
    assert opts.mond is True and opts.min_gain == 2
    with pytest.raises(CommandLineExit) as ei:
        parse_cmdline("hbal", ["--ex=x"])
    assert ei.value.status == 2
    assert "option `--ex' is ambiguous; could be one of:" in ei.value.text


def test_permutation_and_double_dash():
    opts, args = parse_cmdline("hscan", ["c1", "-v", "c2", "--no-headers",
                                         "--", "-p", "c3"])
    assert args == ["c1", "c2", "-p", "c3"]
    assert opts.verbose == 2 and opts.no_headers and opts.print_nodes is None


def test_clustered_flags():
    opts, _ = parse_cmdline("hbal", ["-vvvXE"])
    assert opts.verbose == 4 and opts.exec_jobs and opts.evac_mode
    opts, _ = parse_cmdline("hbal", ["-vl3"])
    assert opts.verbose == 2 and opts.max_length == 3
    opts, _ = parse_cmdline("hbal", ["-vpname"])
    assert opts.print_nodes == ["name"]


def test_simulate_and_specs():
    opts, _ = parse_cmdline("hspace", ["--simulate=p,1,1,1,1,1",
                                       "--simulate", "a,2,2,2,2,2",
                                       "--standard-alloc=1g,2G,3",
                                       "--tiered-alloc=8T,100,2,3"])
    assert opts.node_sim == ["a,2,2,2,2,2", "p,1,1,1,1,1"]   # prepended
    assert opts.std_spec == RSpec(cpu=3, mem=1907, dsk=1024, spn=1)
    assert opts.tiered_spec == RSpec(cpu=2, mem=100, dsk=7629394, spn=3)
    opts, _ = parse_cmdline("hspace", ["--disk-template=drbd",
                                       "--spindle-use=2"])
    assert opts.disk_template == "drbd" and opts.spindle_use == 2


def test_getopt_raw():
    descrs = program_options("hbal")
    parsed, args, errs = getopt(descrs, ["-v-", "x"])
    # "-v-" is "-v" followed by "--": everything after is positional
    assert [d.key for d, _ in parsed] == ["verbose"]
    assert args == ["x"] and errs == []


def test_check_args():
    check_args("hscan", ["a", "b"])
    check_args("hail", ["req.json"])
    with pytest.raises(HtoolsError) as ei:
        check_args("hbal", ["x"])
    assert ei.value.status == 1


def test_not_implemented_tool(capsys):
    status, out, err = run_ours("hbal", ["-t", "/nonexistent"], capsys)
    assert status != 0 and out == "" and err.startswith("Error: ")


def test_multi_call_usage():
    rows = format_commands()
    assert rows[0] == (" hail     - Ganeti IAllocator plugin that implements the "
                       "instance placement and")
    assert rows[1] == "            movement using the same algorithm as hbal(1)"
    assert " hsqueeze - cluster dynamic power management;  it powers up and " \
           "down nodes to" in rows


def test_entry_point_subprocess():
    env = dict(os.environ)
    env.pop("GANETI_ROOTDIR", None)
    env.pop("HTOOLS", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-m", "htools.cli", "hbal", "--bogus"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr.decode() == cmdline_error("hbal",
                                              "unrecognized option `--bogus'\n")
    env["HTOOLS"] = "HSPACE"
    r = subprocess.run([sys.executable, "-m", "htools.cli", "--version"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert r.returncode == 0
    assert r.stdout.decode().startswith("hspace (ganeti) version 3.0.2-3\n")


# ------------------------------------------------------------ numbers & units

@pytest.mark.parametrize("text,value", [
    ("5", 5), ("-5", -5), (" 5", 5), ("(5)", 5), ("( (5) )", 5), ("(-5)", -5),
    ("- 5", -5), ("0x10", 16), ("0X1f", 31), ("0o17", 15),
    ("99999999999999999999", 7766279631452241919),   # Int wraps
])
def test_read_int_ok(text, value):
    assert try_read_int("n", text) == value


@pytest.mark.parametrize("text,msg", [
    ("abc", "n: cannot parse string 'abc'"),
    ("1e5", "n: cannot parse string '1e5'"),
    ("1.5", "n: cannot parse string '1.5'"),
    ("", "n: cannot parse string ''"),
    ("+5", "n: cannot parse string '+5'"),
    ("(5", "n: cannot parse string '(5'"),
    ("\u0663", "n: cannot parse string '\u0663'"),
    ("5)", "n: leftover characters when parsing '5)': ')'"),
    ("5 ", "n: leftover characters when parsing '5 ': ' '"),
    ("0x", "n: leftover characters when parsing '0x': 'x'"),
    ("0b1", "n: leftover characters when parsing '0b1': 'b1'"),
    ("5abc", "n: leftover characters when parsing '5abc': 'abc'"),
])
def test_read_int_errors(text, msg):
    with pytest.raises(ReadError) as ei:
        try_read_int("n", text)
    assert str(ei.value) == msg


def test_read_double():
    assert try_read_double("d", "1e5") == 1e5
    assert try_read_double("d", "0x10") == 16.0
    assert try_read_double("d", "-Infinity") == float("-inf")
    assert try_read_double("d", "NaN") != try_read_double("d", "NaN")
    assert try_read_double("d", "( 2.5e-1 )") == 0.25
    for text, msg in [("1.", "d: leftover characters when parsing '1.': '.'"),
                      (".5", "d: cannot parse string '.5'"),
                      ("1e", "d: leftover characters when parsing '1e': 'e'"),
                      ("1.5e+3x",
                       "d: leftover characters when parsing '1.5e+3x': 'x'")]:
        with pytest.raises(ReadError) as ei:
            try_read_double("d", text)
        assert str(ei.value) == msg


@pytest.mark.parametrize("text,mib", [
    ("1", 1), ("1m", 1), ("1MiB", 1), ("1mib", 1), ("1 g", 1024),
    ("1GiB", 1024), ("2t", 2 * 1024 * 1024), ("1TiB", 1024 * 1024),
    ("1M", 0), ("5MB", 4), ("1000mb", 953), ("100G", 95367), ("1GB", 953),
    ("8T", 7629394), ("1tb", 953674), ("-5G", -4768), ("0x10g", 16384),
    (" 3 ", 3), ("3   g", 3072),
])
def test_parse_unit(text, mib):
    assert parse_unit(text) == mib


def test_parse_unit_binary():
    assert parse_unit_assume_binary("1G") == 1024
    assert parse_unit_assume_binary("1T") == 1024 * 1024
    assert parse_unit_assume_binary("1M") == 1


@pytest.mark.parametrize("text,msg", [
    ("a", "Can't parse string 'a'"), ("", "Can't parse string ''"),
    ("1.5g", "Can't parse string '1.5g'"), ("1x", "Unknown unit 'x'"),
    ("1 k", "Unknown unit 'k'"), ("1.g", "Unknown unit '.g'"),
])
def test_parse_unit_errors(text, msg):
    with pytest.raises(UnitError) as ei:
        parse_unit(text)
    assert str(ei.value) == msg


def test_reads_int_rest():
    assert reads_int("12abc") == [(12, "abc")]
    assert reads_int("x") == []
