#!/usr/bin/env python3
"""Run Ganeti 3.0.2's htools shelltests against an htools implementation.

Ganeti checks the command-line behaviour of its htools with the shelltest
files ``test/hs/shelltests/htools-*.test`` (run by ``shelltest`` from the
``shelltestrunner`` package), driven by ``test/hs/offline-test.sh``.  This
script re-creates what that driver (plus ``test/hs/cli-tests-defs.sh``, the
``hs-shell`` Makefile target and ``autotools/run-in-tempdir``) sets up, and
runs the tests either against the reference Haskell binaries or against our
console scripts:

* a temporary directory ``ROOT`` is created, holding

  - ``ROOT/run``: the working directory of ``shelltest`` (the tests call
    ``./test/hs/<prog>``), with ``test/hs/<prog>`` symlinks for the nine
    programs (hbal hspace hroller hinfo hcheck hscan hsqueeze harep hail)
    pointing at the implementation under test, and ``test/data/htools`` a
    symlink to the Ganeti test data (the data is never copied into the
    repository; ``test/data`` only exists in the temporary directory);
  - ``ROOT/T``: offline-test.sh's ``$T``, with the generated fixtures;

* the environment variables the tests use are exported: ``T``,
  ``TESTDATA_DIR``, ``PYTESTDATA_DIR``, ``BACKEND_BAL_STD``,
  ``BACKEND_BAL_TIER``, ``BACKEND_DYNU``, ``BACKEND_EXCL``, ``RAPI_URL``,
  plus the ones of the Makefile's test environment (``PYTHONPATH=.:./test/py``,
  ``TOP_SRCDIR``, ``TOP_BUILDDIR``, ``GANETI_TEMP_DIR``); ``test/hs`` is put
  first on ``PATH``; ``HTOOLS`` and ``GANETI_ROOTDIR`` are removed and the
  locale is fixed to ``C.UTF-8``;

* the fixtures are generated as offline-test.sh does.  The ones made with
  ``hspace`` (simu-onegroup.*, simu-twogroups.*, simu-rebal-orig.* and the
  derived simu-rebal-merged.*) are ALWAYS generated with the REFERENCE
  hspace, whatever ``--impl`` is, so that every implementation is tested on
  the same input (no fixture needs hail).  The hail-*.json.* variants are
  made with ``sed``-equivalent rewrites in Python.  The hscan fixtures
  (``$T/hscan/*.data``, ``direct.hinfo``, ``fromtext.hinfo``) are, like in
  offline-test.sh, made with the implementation UNDER TEST: they are its
  hscan/hinfo round-trip check, compared by htools-rapi.test.  Where
  offline-test.sh would abort when such a step fails, we only warn and let
  the corresponding shelltest fail;

* ``shelltest -c --xmlout=... FILE`` is run for every selected test file
  (``-c`` is the Makefile's ``SHELLTESTARGS``; one shelltest process per
  file, files run in parallel with ``--jobs``: no test file uses what
  another one writes), and a per-file summary is printed from the XML
  results.

htools-mon-collector.test is not run unless named explicitly: it tests
Ganeti's ``mon-collector`` (not an htools program: no reference binary is
installed and htools-py does not implement it) and needs data files from
Ganeti's ``test/data`` that are not part of the htools test data.

Exit status: 0 iff every selected test passed (2 on a usage/setup error).

Examples::

    python3 tests/shelltests/run_shelltests.py --impl reference
    .venv/bin/python tests/shelltests/run_shelltests.py --impl ours \\
        --tests htools-hbal.test,htools-balancing.test --details
    python3 tests/shelltests/run_shelltests.py --list -v
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

PROGRAMS = ["hbal", "hspace", "hroller", "hinfo", "hcheck", "hscan",
            "hsqueeze", "harep", "hail"]

REF_BIN_DIR = Path("/usr/lib/ganeti/3.0/usr/bin")
REF_HAIL = Path("/usr/lib/ganeti/iallocators/hail")

REPO_ROOT = Path(__file__).resolve().parents[2]

# Test files not run by default, with the reason.
NOT_BY_DEFAULT = {
    "htools-mon-collector.test":
        "tests Ganeti's mon-collector (not an htools program, no reference "
        "binary installed, not implemented by htools-py) and needs Ganeti's "
        "test/data files that the htools test data does not include",
}

# offline-test.sh sets SHELLTESTARGS from the Makefile: "-c".
DEFAULT_SHELLTEST_ARGS = ["-c"]


# ---------------------------------------------------------------------------
# Locating things

def default_data_root():
    """The directory holding ``htools/`` (test data) and ``shelltests/``."""
    candidates = []
    env = os.environ.get("HTOOLS_TESTDATA")
    if env:
        candidates.append(Path(env))
    candidates += [REPO_ROOT.parent / "shared" / "ganeti-testdata",
                   Path("/work/shared/ganeti-testdata")]
    for cand in candidates:
        if (cand / "htools").is_dir() and (cand / "shelltests").is_dir():
            return cand
    return None


def default_ours_bin_dir():
    """Where our console scripts are: the running Python's scripts
    directory when it has them, else the repository's .venv/bin."""
    scripts = Path(sysconfig.get_path("scripts"))
    if (scripts / "hbal").exists():
        return scripts
    venv = REPO_ROOT / ".venv" / "bin"
    if (venv / "hbal").exists():
        return venv
    return scripts


def ref_program(prog, ref_bin_dir=REF_BIN_DIR, ref_hail=REF_HAIL):
    return Path(ref_hail) if prog == "hail" else Path(ref_bin_dir) / prog


def reference_available(ref_bin_dir=REF_BIN_DIR, ref_hail=REF_HAIL):
    return all(os.access(ref_program(p, ref_bin_dir, ref_hail), os.X_OK)
               for p in PROGRAMS)


def impl_programs(impl, bin_dir, ref_bin_dir, ref_hail):
    """Map program name -> executable path for the chosen implementation."""
    if impl == "reference":
        return {p: ref_program(p, ref_bin_dir, ref_hail) for p in PROGRAMS}
    return {p: Path(bin_dir) / p for p in PROGRAMS}


# ---------------------------------------------------------------------------
# Parsing the shelltest files (format 1: command, <<<, >>>, >>>2, >>>=) to
# name the tests: shelltest numbers them 1, 2, ... within a file.

_DELIM = re.compile(r"^(<<<|>>>2|>>>=|>>>)")


def parse_test_file(path):
    """Return a list of (line number, command) for the tests of a file."""
    tests = []
    in_test = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            m = _DELIM.match(line)
            if in_test:
                if m and m.group(1) == ">>>=":
                    in_test = False
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if m:  # stray delimiter: shelltest would refuse the file
                continue
            tests.append((lineno, line))
            in_test = True
    return tests


# ---------------------------------------------------------------------------
# Fixtures (offline-test.sh)

def _sed_file(src, dst, substitutions):
    text = Path(src).read_text(encoding="utf-8")
    out = []
    for line in text.splitlines(keepends=True):
        for pattern, repl in substitutions:
            line = re.sub(pattern, repl, line, count=1)
        out.append(line)
    Path(dst).write_text("".join(out), encoding="utf-8")


def _run_quiet(cmd, env, cwd, log):
    """Run a fixture command with its output discarded (as offline-test.sh
    does with >/dev/null 2>&1) but kept in the log; return the status."""
    log.write("$ %s\n" % " ".join(str(c) for c in cmd))
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
    log.write(proc.stdout.decode("utf-8", "replace"))
    log.write("[exit %d]\n" % proc.returncode)
    return proc.returncode, proc.stdout


def build_fixtures(T, env, cwd, testdata, ref_hspace, impl_progs, log):
    """Generate offline-test.sh's fixtures in T; return a list of warnings.

    Errors with the reference hspace are fatal (RuntimeError): the tests
    cannot be meaningful without these files.
    """
    warnings = []
    hspace = str(ref_hspace)

    def need(cmd, what):
        rc, out = _run_quiet(cmd, env, cwd, log)
        if rc != 0:
            raise RuntimeError("FAIL to build test files (%s): %s exited %d:"
                               "\n%s" % (what, " ".join(map(str, cmd)), rc,
                                         out.decode("utf-8", "replace")))

    # hspace simulation data for hinfo and hbal (reference hspace, always)
    need([hspace, "--simu", "p,4,8T,64g,16", "-S", "%s/simu-onegroup" % T,
          "--disk-template", "drbd", "-l", "8", "-v", "-v", "-v"],
         "single-group simulation")
    need([hspace, "--simu", "p,4,8T,64g,16", "--simu", "p,4,8T,64g,16",
          "-S", "%s/simu-twogroups" % T, "--disk-template", "drbd",
          "-l", "8"], "multi-group simulation")
    # rebalancing: two groups, the first unallocable, then all nodes moved
    # to the second group
    froot = "%s/simu-rebal-orig" % T
    need([hspace, "--simu", "u,4,8T,64g,16", "--simu", "p,4,8T,64g,16",
          "-S", froot, "--disk-template", "drbd", "-l", "8"],
         "rebalancing simulation")
    for suffix in ("standard", "tiered"):
        # sed -re 's/^(node-.*|fake-uuid-)-02(|.*)/\1-01\2/'
        _sed_file("%s.%s" % (froot, suffix),
                  "%s/simu-rebal-merged.%s" % (T, suffix),
                  [(r"^(node-.*|fake-uuid-)-02(|.*)", r"\1-01\2")])

    # IAllocator request variants
    spindles = (r'"spindles": [0-9]+,', "")
    for mode in ("primary-only", "secondary-only", "all"):
        _sed_file(testdata / "hail-node-evac.json",
                  "%s/hail-node-evac.json.%s" % (T, mode),
                  [(r'"evac_mode": "all"', '"evac_mode": "%s"' % mode),
                   spindles])
    excl = (r'"exclusive_storage": false', '"exclusive_storage": true')
    for bf in ("hail-alloc-drbd", "hail-alloc-invalid-twodisks",
               "hail-alloc-twodisks", "hail-change-group", "hail-node-evac",
               "hail-reloc-drbd", "hail-alloc-spindles"):
        f = bf + ".json"
        _sed_file(testdata / f, "%s/%s.excl-stor" % (T, f), [excl])
        _sed_file(testdata / f, "%s/%s.fail-excl-stor" % (T, f),
                  [excl, spindles])

    # file-based RAPI: hscan + hinfo round trip, by the implementation
    # under test (checked by htools-rapi.test)
    hscan_dir = Path(T) / "hscan"
    hscan_dir.mkdir(parents=True, exist_ok=True)
    rapi_url = env["RAPI_URL"]
    rc, _ = _run_quiet([impl_progs["hscan"], "-d", "%s/" % hscan_dir, "-p",
                        "-v", "-v", rapi_url], env, cwd, log)
    if rc != 0:
        warnings.append("hscan of %s failed (exit %d): htools-rapi.test "
                        "will fail" % (rapi_url, rc))
    datas = sorted(hscan_dir.glob("*.data"))
    rapi_txt = str(datas[0]) if datas else ""
    for out_name, backend in (("direct.hinfo", ["-m", rapi_url]),
                              ("fromtext.hinfo", ["-t", rapi_txt])):
        cmd = [str(impl_progs["hinfo"]), "-p", "--print-instances"] + backend
        log.write("$ %s > %s 2>&1\n" % (" ".join(cmd), out_name))
        with open(hscan_dir / out_name, "wb") as out:
            proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=out,
                                  stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        log.write("[exit %d]\n" % proc.returncode)
        if proc.returncode != 0:
            shown = " ".join(b or "''" for b in backend)
            warnings.append("hinfo %s failed (exit %d): htools-rapi.test "
                            "will fail" % (shown, proc.returncode))
    return warnings


# ---------------------------------------------------------------------------
# Environment

def make_environment(root, run_dir, T, data_link, hs_dir):
    env = dict(os.environ)
    for var in ("HTOOLS", "GANETI_ROOTDIR", "LANGUAGE"):
        env.pop(var, None)
    env["LANG"] = env["LC_ALL"] = "C.UTF-8"
    env["PATH"] = "%s%s%s" % (hs_dir, os.pathsep, env.get("PATH", ""))
    # Makefile.am's PLAIN_TESTS_ENVIRONMENT and run-in-tempdir
    env["PYTHONPATH"] = ".:./test/py"
    env["TOP_SRCDIR"] = str(run_dir)
    env["TOP_BUILDDIR"] = str(run_dir)
    env["GANETI_TEMP_DIR"] = str(root)
    # cli-tests-defs.sh
    env["TESTDATA_DIR"] = str(data_link)
    env["PYTESTDATA_DIR"] = str(data_link.parent)
    # offline-test.sh
    env["T"] = str(T)
    env["BACKEND_BAL_STD"] = "-t%s/simu-rebal-merged.standard" % T
    env["BACKEND_BAL_TIER"] = "-t%s/simu-rebal-merged.tiered" % T
    env["BACKEND_DYNU"] = "-t %s/simu-onegroup.standard" % T
    env["BACKEND_EXCL"] = "-t %s/simu-onegroup.standard" % T
    env["RAPI_URL"] = "file://%s/rapi" % data_link
    return env


# ---------------------------------------------------------------------------
# Running shelltest and reading its results

class FileResult:
    def __init__(self, name, tests):
        self.name = name
        self.tests = tests          # [(line, command)] from our parser
        self.passed = []            # test numbers (1-based)
        self.failed = {}            # test number -> failure text
        self.error = None           # problem running shelltest itself
        self.output = ""            # shelltest's console output

    @property
    def ok(self):
        return self.error is None and not self.failed and bool(self.passed)

    def to_json(self):
        return {
            "passed": len(self.passed),
            "failed": len(self.failed),
            "ok": self.ok,
            "error": self.error,
            "failures": [{"number": num, "name": self.describe(num),
                          "details": _strip_ansi(self.failed[num])}
                         for num in sorted(self.failed)],
        }

    def describe(self, num):
        if 1 <= num <= len(self.tests):
            line, cmd = self.tests[num - 1]
            return "#%d (line %d): %s" % (num, line, cmd)
        return "#%d" % num


_CASE_NAME = re.compile(r":(?P<file>.*):(?P<num>\d+)$")


def run_one_file(test_path, run_dir, env, xml_dir, shelltest_args, timeout):
    name = test_path.name
    result = FileResult(name, parse_test_file(test_path))
    xml_path = Path(xml_dir) / (name + ".xml")
    cmd = (["shelltest"] + list(shelltest_args) +
           ["--xmlout=%s" % xml_path])
    if timeout:
        cmd.append("--timeout=%d" % timeout)
    cmd.append(str(test_path))
    try:
        proc = subprocess.run(cmd, cwd=run_dir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    except OSError as err:
        result.error = "cannot run shelltest: %s" % err
        return result
    result.output = proc.stdout.decode("utf-8", "replace")
    if not xml_path.exists():
        result.error = ("shelltest exited %d without results:\n%s"
                        % (proc.returncode, result.output.strip()))
        return result
    try:
        tree = ET.parse(xml_path)
    except ET.ParseError as err:
        result.error = "cannot parse %s: %s" % (xml_path, err)
        return result
    for case in tree.iter("testcase"):
        m = _CASE_NAME.search(case.get("name", ""))
        if not m:
            continue
        num = int(m.group("num"))
        bad = [el for el in case if el.tag in ("failure", "error")]
        if bad:
            result.failed[num] = "\n".join((el.text or el.get("message", ""))
                                           for el in bad).strip()
        else:
            result.passed.append(num)
    if not result.passed and not result.failed:
        result.error = ("no test results (shelltest exited %d):\n%s"
                        % (proc.returncode, result.output.strip()))
    elif proc.returncode != 0 and not result.failed:
        result.error = ("shelltest exited %d although all tests passed"
                        % proc.returncode)
    return result


def _strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def print_summary(results, details, max_detail_lines, out=sys.stdout):
    width = max(len(r.name) for r in results) if results else 10
    total_pass = total_fail = 0
    out.write("\n%-*s  %6s  %6s  %6s\n" % (width, "test file", "passed",
                                           "failed", "total"))
    for r in results:
        npass, nfail = len(r.passed), len(r.failed)
        total_pass += npass
        total_fail += nfail
        status = "" if r.ok else ("  ERROR" if r.error else "  FAIL")
        out.write("%-*s  %6d  %6d  %6d%s\n" % (width, r.name, npass, nfail,
                                               npass + nfail, status))
    out.write("%-*s  %6d  %6d  %6d\n" % (width, "TOTAL", total_pass,
                                         total_fail, total_pass + total_fail))
    for r in results:
        if r.ok:
            continue
        out.write("\n== %s\n" % r.name)
        if r.error:
            out.write("  error: %s\n" % r.error.replace("\n", "\n    "))
        for num in sorted(r.failed):
            out.write("  FAILED %s\n" % r.describe(num))
            if details:
                lines = _strip_ansi(r.failed[num]).splitlines()
                if max_detail_lines and len(lines) > max_detail_lines:
                    lines = lines[:max_detail_lines] + ["[... %d more lines]"
                                                        % (len(lines) -
                                                           max_detail_lines)]
                for line in lines:
                    out.write("      | %s\n" % line)
    # The plain closing line understood by CI tooling.
    out.write("\nshelltests: %d passed, %d failed\n" % (total_pass,
                                                       total_fail))


# ---------------------------------------------------------------------------
# Main

def select_tests(shelltests_dir, spec):
    available = sorted(p.name for p in Path(shelltests_dir).glob("*.test"))
    if not spec:
        return [n for n in available if n not in NOT_BY_DEFAULT], available
    if spec == "all":
        return available, available
    chosen = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name = item
        if not name.endswith(".test"):
            name += ".test"
        if not name.startswith("htools-") and name not in available:
            name = "htools-" + name
        if name not in available:
            raise ValueError("unknown test file %r (available: %s)"
                             % (item, ", ".join(available)))
        if name not in chosen:
            chosen.append(name)
    return chosen, available


def do_list(shelltests_dir, selected, available, verbose):
    for name in available:
        tests = parse_test_file(Path(shelltests_dir) / name)
        mark = "*" if name in selected else " "
        note = ""
        if name in NOT_BY_DEFAULT:
            note = "  (not run by default: %s)" % NOT_BY_DEFAULT[name]
        print("%s %-30s %3d tests%s" % (mark, name, len(tests), note))
        if verbose:
            for num, (line, cmd) in enumerate(tests, 1):
                print("      #%-3d line %-4d %s" % (num, line, cmd))
    print("(* = selected)")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run Ganeti's htools shelltests against the reference "
        "binaries or our implementation.",
        epilog="Fixtures that need hspace are always generated with the "
        "reference hspace; see the module docstring for details.")
    ap.add_argument("--impl", choices=("reference", "ours"), default="ours",
                    help="implementation under test (default: ours)")
    ap.add_argument("--bin-dir", type=Path, default=None,
                    help="directory with our console scripts (for --impl "
                    "ours; default: the running Python's scripts directory "
                    "if it has them, else <repo>/.venv/bin)")
    ap.add_argument("--tests", default=None,
                    help="comma-separated test files, e.g. "
                    "htools-hbal.test,balancing ('all' includes "
                    "htools-mon-collector.test; default: all others)")
    ap.add_argument("--list", action="store_true",
                    help="list the test files (and with -v their tests)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    ap.add_argument("--data-root", type=Path, default=None,
                    help="directory with Ganeti's htools/ test data and "
                    "shelltests/ (default: $HTOOLS_TESTDATA, "
                    "<repo>/../shared/ganeti-testdata, "
                    "/work/shared/ganeti-testdata)")
    ap.add_argument("--ref-bin-dir", type=Path, default=REF_BIN_DIR,
                    help="reference htools directory (default: %(default)s)")
    ap.add_argument("--ref-hail", type=Path, default=REF_HAIL,
                    help="reference hail (default: %(default)s)")
    ap.add_argument("--shelltest-args", default=None,
                    help="options for shelltest (default: $SHELLTESTARGS "
                    "or '-c', as in Ganeti's Makefile)")
    ap.add_argument("--timeout", type=int, default=0,
                    help="per-test timeout in seconds (default: none)")
    ap.add_argument("-j", "--jobs", type=int, default=0,
                    help="test files run in parallel (default: CPU count)")
    ap.add_argument("--details", action="store_true",
                    help="show shelltest's expected/got text for failures")
    ap.add_argument("--max-detail-lines", type=int, default=40,
                    help="cut each failure's details to this many lines "
                    "(0: no limit; default: %(default)s)")
    ap.add_argument("--json-out", type=Path, default=None,
                    help="also write the results to this JSON file")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show fixture logs and shelltest's own output")
    args = ap.parse_args(argv)

    data_root = args.data_root or default_data_root()
    if data_root is None or not (Path(data_root) / "htools").is_dir():
        print("error: Ganeti test data not found (use --data-root or "
              "$HTOOLS_TESTDATA)", file=sys.stderr)
        return 2
    data_root = Path(data_root).resolve()
    testdata = data_root / "htools"
    shelltests_dir = data_root / "shelltests"
    try:
        selected, available = select_tests(shelltests_dir, args.tests)
    except ValueError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2

    if args.list:
        return do_list(shelltests_dir, selected, available, args.verbose)

    if shutil.which("shelltest") is None:
        print("error: shelltest not found (install shelltestrunner)",
              file=sys.stderr)
        return 2
    if not reference_available(args.ref_bin_dir, args.ref_hail):
        print("error: the reference htools are needed (at least to generate "
              "the fixtures) but are not all in %s and %s"
              % (args.ref_bin_dir, args.ref_hail), file=sys.stderr)
        return 2

    bin_dir = args.bin_dir or default_ours_bin_dir()
    progs = impl_programs(args.impl, bin_dir, args.ref_bin_dir,
                          args.ref_hail)
    missing = [p for p, path in progs.items() if not os.access(path, os.X_OK)]
    if missing:
        print("warning: missing programs in %s: %s (their tests will fail)"
              % (bin_dir, " ".join(missing)), file=sys.stderr)

    if args.shelltest_args is not None:
        st_args = args.shelltest_args.split()
    elif os.environ.get("SHELLTESTARGS"):
        st_args = os.environ["SHELLTESTARGS"].strip("\"'").split()
    else:
        st_args = list(DEFAULT_SHELLTEST_ARGS)

    root = Path(tempfile.mkdtemp(prefix="htools-shelltests-"))
    try:
        run_dir = root / "run"
        hs_dir = run_dir / "test" / "hs"
        hs_dir.mkdir(parents=True)
        (run_dir / "test" / "py").mkdir()
        data_link = run_dir / "test" / "data" / "htools"
        data_link.parent.mkdir(parents=True)
        data_link.symlink_to(testdata, target_is_directory=True)
        for prog, path in progs.items():
            (hs_dir / prog).symlink_to(Path(path).absolute())
        T = root / "T"
        T.mkdir()
        xml_dir = root / "results"
        xml_dir.mkdir()
        env = make_environment(root, run_dir, T, data_link, hs_dir)

        print("Running htools shelltests: impl=%s (%s)" % (
            args.impl, args.ref_bin_dir if args.impl == "reference"
            else bin_dir))
        print("Using %s as temporary dir" % root)
        log_path = root / "fixtures.log"
        with open(log_path, "w", encoding="utf-8") as log:
            try:
                warnings = build_fixtures(
                    T, env, run_dir, testdata,
                    ref_program("hspace", args.ref_bin_dir, args.ref_hail),
                    progs, log)
            except RuntimeError as err:
                print("error: %s" % err, file=sys.stderr)
                return 2
        if "htools-rapi.test" in selected:
            for w in warnings:
                print("warning: fixture: %s" % w, file=sys.stderr)
        if args.verbose:
            print(log_path.read_text(encoding="utf-8"))

        jobs = args.jobs or os.cpu_count() or 1
        paths = [shelltests_dir / n for n in selected]
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
            results = list(ex.map(
                lambda p: run_one_file(p, run_dir, env, xml_dir, st_args,
                                       args.timeout), paths))
        if args.verbose:
            for r in results:
                print("---- shelltest output for %s" % r.name)
                print(r.output)
        print_summary(results, args.details, args.max_detail_lines)
        if args.json_out:
            with open(args.json_out, "w", encoding="utf-8") as fh:
                json.dump({"impl": args.impl,
                           "fixture_warnings": warnings,
                           "files": {r.name: r.to_json() for r in results}},
                          fh, indent=1)
        return 0 if results and all(r.ok for r in results) else 1
    finally:
        if args.keep:
            print("Kept temporary dir %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
