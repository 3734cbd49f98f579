"""The HTML reports in a real browser: headless Chromium loads each one
from a file, without console errors, with the expected elements, and
draws it on a laptop and a phone screen, light and dark.

Skipped (with the reason) only where Debian's ``chromium`` is missing;
``.ci/run`` installs it.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from simulate import generator
from tests.harness.refdiff import ours_bin, run_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="chromium is not installed (apt-get install chromium)")

#: tool, its arguments (cluster file last-but-one placeholder), the
#: section ids and the least number of SVG drawings its page has
REPORTS: Dict[str, Tuple[List[str], List[str], int]] = {
    "hbal": (["-t", "{busy}", "-C"],
             ["curve", "nodes", "moves", "jobsets", "metrics"], 41),
    "hspace": (["-t", "{roomy}", "--no-capacity-checks"],
               ["resources", "limits", "tiered", "nodes", "keys"], 60),
    "hinfo": (["-t", "{busy}"], ["groups", "n1", "policy", "tags", "nodes",
                                  "metrics"], 60),
    "hcheck": (["-t", "{busy}"], ["checks", "n1", "policy", "tags", "nodes",
                                   "metrics"], 60),
    "hroller": (["-t", "{roomy}", "--print-moves"], ["groups", "moves"], 0),
}


def chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--disable-extensions", "--enable-logging=stderr",
         "--v=0"] + list(args),
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def console_messages(stderr: str) -> List[str]:
    """What the page wrote on the console (errors of the page included)."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


def first_pixel(png: Path) -> Tuple[int, int, int]:
    """The RGB of a PNG's top-left pixel (8-bit RGB or RGBA; whatever the
    row filter, the first pixel of the first row is stored as it is)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, depth, ctype = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            depth, ctype = body[8], body[9]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and ctype in (2, 6), (depth, ctype)
    raw = zlib.decompressobj().decompress(idat, 8)
    return raw[1], raw[2], raw[3]


@pytest.fixture(scope="module")
def pages(cluster_dir):
    busy = cluster_dir / "busy.data"
    roomy = cluster_dir / "roomy.data"
    generator.write(str(busy), nodes=20, instances=200, seed=9)
    generator.write(str(roomy), nodes=20, instances=80, seed=2)
    out = {}
    for tool, (args, _ids, _svgs) in REPORTS.items():
        page = cluster_dir / ("%s.html" % tool)
        argv = [a.format(busy=busy, roomy=roomy) for a in args]
        proc = subprocess.run([ours_bin(tool)] + argv + ["--html-report=" + str(page)],
                              cwd=str(cluster_dir), env=run_env(), capture_output=True,
                              text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert proc.returncode in (0, 1) and page.exists(), proc.stderr
        out[tool] = page
    return out


@pytest.mark.parametrize("tool", sorted(REPORTS))
def test_the_page_loads_with_its_elements(pages, tool):
    page = pages[tool]
    proc = chromium("--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_messages(proc.stderr) == []
    dom = proc.stdout
    assert '<body data-tool="%s">' % tool in dom
    _args, ids, svgs = REPORTS[tool]
    for ident in ids:
        assert '<section id="%s">' % ident in dom, ident
    assert len(re.findall(r"<svg\b", dom)) >= svgs
    # nothing is fetched: no script, no external reference
    assert "<script" not in dom
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", dom)


@pytest.mark.parametrize("tool", ["hbal", "hspace"])
@pytest.mark.parametrize("screen", ["1280,900", "390,844"])
def test_the_page_draws_in_light_and_dark(pages, tool, screen, tmp_path):
    light, dark = tmp_path / "light.png", tmp_path / "dark.png"
    for png, extra in ((light, []), (dark, ["--force-dark-mode"])):
        proc = chromium("--hide-scrollbars", "--window-size=" + screen,
                        "--screenshot=" + str(png), *extra, pages[tool].as_uri())
        assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]
        assert console_messages(proc.stderr) == []
    assert sum(first_pixel(light)) > 600       # the light background
    assert sum(first_pixel(dark)) < 150        # the dark one


#: added to a copy of a page (the reports have no script): the page's
#: width against the window's, once laid out
MEASURE = """<script>window.addEventListener("load", () => {
  const d = document.documentElement;
  document.body.setAttribute("data-width", d.scrollWidth + "/" + d.clientWidth);
});</script></body>"""


@pytest.mark.parametrize("tool", sorted(REPORTS))
@pytest.mark.parametrize("width", [390, 1280])
def test_the_page_fits_the_screen_width(pages, tool, width, tmp_path):
    """Nothing makes the page wider than the screen: wide tables scroll
    inside their section.  (Headless Chromium's --dump-dom lays pages out
    at least 500 pixels wide: 390 measures a large phone.)"""
    copy = tmp_path / "measured.html"
    copy.write_text(pages[tool].read_text().replace("</body>", MEASURE))
    proc = chromium("--window-size=%d,844" % width, "--virtual-time-budget=3000",
                    "--dump-dom", copy.as_uri())
    m = re.search(r'data-width="(\d+)/(\d+)"', proc.stdout)
    assert m, proc.stderr[-2000:]
    assert int(m.group(1)) <= int(m.group(2)), m.group(0)


def test_the_console_check_sees_page_errors(tmp_path):
    """A broken attribute is reported on the console: the checks above
    would see one in a report."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><svg width="10" height="10">'
                   '<rect width="5" height="5/"></rect></svg></body></html>')
    proc = chromium("--dump-dom", bad.as_uri())
    assert any("Error" in m for m in console_messages(proc.stderr))
