"""The start-up-light pieces of the JSON reader held to what they replace:
Ratio to fractions.Fraction, the float lexeme reader and the surrogate scan
to their regular expressions, the direct C-scanner decode to json.loads."""
import json
import math
import re
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from htools.haskell import json as hjson
from htools.haskell.jsvalue import JSObject, Ratio

_FLOAT_LEXEME = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?(?:[eE]([-+]?)([0-9]+))?\Z")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _old_json_float(text):
    m = _FLOAT_LEXEME.match(text)
    esign = "-" if m.group(3) == "-" else ""
    exp = None if m.group(4) is None else esign + m.group(4)
    return hjson.json_number(text.startswith("-"), m.group(1), m.group(2), exp)


_ints = st.integers(min_value=-10 ** 40, max_value=10 ** 40)


@settings(max_examples=400, deadline=None)
@given(_ints, st.integers(min_value=1, max_value=10 ** 40),
       st.one_of(_ints, st.floats(allow_nan=True, allow_infinity=True)))
def test_ratio_behaves_as_fraction(num, den, other):
    ours, ref = Ratio(num, den), Fraction(num, den)
    assert (ours.numerator, ours.denominator) == (ref.numerator, ref.denominator)
    assert round(ours) == round(ref) and int(ours) == int(ref)
    assert math.floor(ours) == math.floor(ref) and math.ceil(ours) == math.ceil(ref)
    try:
        expected = float(ref)
    except OverflowError:
        expected = None
    if expected is not None:
        assert float(ours) == expected
    assert hash(ours) == hash(ref) and ours == ref and -ours == -ref
    assert bool(ours) == bool(ref)
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__"):
        assert getattr(ours, op)(other) == getattr(ref, op)(other), (op, other)


_lexemes = st.builds(
    lambda neg, ip, frac, exp: (("-" if neg else "") + ip + ("." + frac if frac else "")
                                + (exp or "")),
    st.booleans(), st.from_regex(r"\A(0|[1-9][0-9]{0,25})\Z"),
    st.one_of(st.none(), st.from_regex(r"\A[0-9]{1,25}\Z")),
    st.one_of(st.none(), st.from_regex(r"\A[eE][-+]?[0-9]{1,22}\Z")))


@settings(max_examples=500, deadline=None)
@given(_lexemes)
def test_float_lexeme_reader(text):
    assert hjson._json_float(text) == _old_json_float(text)
    assert type(hjson._json_float(text)) is type(_old_json_float(text))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='\\udDaAbB89f0"x', max_size=24))
def test_surrogate_scan(text):
    assert hjson._has_surrogate_escape(text) == bool(_SURROGATE_ESCAPE.search(text))


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=6),
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.text(max_size=4), kids, max_size=4)),
    max_leaves=12)


def _plain(v):
    if isinstance(v, JSObject):
        return [(k, _plain(x)) for k, x in v.pairs]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, Ratio):
        return ("ratio", v.numerator, v.denominator)
    if isinstance(v, Fraction):
        return ("ratio", v.numerator, v.denominator)
    return v


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_json_values, max_size=4),
                 st.dictionaries(st.text(max_size=4), _json_values, max_size=4)),
       st.sampled_from(["", " ", "\n\t ", " x", "]"]))
def test_direct_scanner_decodes_as_json_loads(value, tail):
    text = json.dumps(value) + tail
    try:
        expected = json.loads(text, object_pairs_hook=JSObject,
                              parse_float=_old_json_float,
                              parse_constant=hjson._reject_constant)
    except ValueError:
        expected = ValueError
    try:
        got = hjson._c_loads(text)
    except ValueError:
        got = ValueError
    assert (_plain(got) if got is not ValueError else got) == \
        (_plain(expected) if expected is not ValueError else expected)


def test_direct_scanner_errors_without_the_json_package():
    """Malformed documents fall back to json-0.10's parser and its message
    even when the json package was never imported (the C scanner can raise
    its error only with json.decoder loaded)."""
    import subprocess
    import sys
    code = ("import sys\n"
            "from htools.haskell.json import decode_value, _Bad\n"
            "for text in ('[1,}', '{\"a\": tru}', '[1] x', '[\"\\\\x\"]'):\n"
            "    try:\n"
            "        decode_value(text)\n"
            "    except _Bad as err:\n"
            "        print(err.msg)\n"
            "print('json' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 5 and lines[-1] == "False", out.stdout
    assert all(line and "Traceback" not in line for line in lines[:4])
