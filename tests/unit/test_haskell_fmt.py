"""Number formatting and parsing follow htools (GHC), not C printf."""
import math

import pytest

from htools.errors import HtoolsError
from htools.haskell.fmt import fmt_f, fmt_g, show_double
from htools.haskell.read import try_read_double as read_float
from htools.haskell.read import try_read_int as read_int


@pytest.mark.parametrize("x,prec,expected", [
    (3.671875, 8, "3.67187500"),
    (0.0, 8, "0.00000000"),
    (2.5, 0, "2"),            # ties to even on the decimal digits
    (3.5, 0, "4"),
    (0.125, 2, "0.12"),
    (0.375, 2, "0.38"),
    (16384.0, 0, "16384"),
    (-1.5, 3, "-1.500"),
    (1e-9, 8, "0.00000000"),
    (123456789.0, 2, "123456789.00"),
    (0.99999999999, 8, "1.00000000"),
])
def test_fmt_f(x, prec, expected):
    assert fmt_f(x, prec) == expected


def test_fmt_f_width_and_special_values():
    assert fmt_f(0.5, 3, 5) == "0.500"
    assert fmt_f(1.0, 3, 7) == "  1.000"
    assert fmt_f(math.nan, 8) == "NaN"
    assert fmt_f(math.inf, 8) == "Infinity"
    assert fmt_f(1.0) == "1.0"
    assert fmt_f(2.25) == "2.25"


@pytest.mark.parametrize("x,expected", [
    (5.551115123125783e-17, "5.551115e-17"),
    (0.0, "0.000000"),
    (1e-9, "1.000000e-9"),
    (0.5, "0.500000"),
    (3.25, "3.250000"),
    (123456789.0, "1.234568e8"),
])
def test_fmt_g(x, expected):
    assert fmt_g(x, 6) == expected


@pytest.mark.parametrize("x,expected", [
    (4.0, "4.0"), (32.0, "32.0"), (0.1, "0.1"), (0.01, "1.0e-2"),
    (1e7, "1.0e7"), (1234567.5, "1234567.5"), (-2.0, "-2.0"),
])
def test_show_double(x, expected):
    assert show_double(x) == expected


def test_read_int_accepts_haskell_literals():
    assert read_int("n", "42") == 42
    assert read_int("n", " 42") == 42
    assert read_int("n", "-7") == -7
    assert read_int("n", "0x10") == 16


@pytest.mark.parametrize("text,message", [
    ("1.5", "n1: cannot parse string '1.5'"),
    ("1e2", "n1: cannot parse string '1e2'"),
    ("12abc", "n1: leftover characters when parsing '12abc': 'abc'"),
    ("12 ", "n1: leftover characters when parsing '12 ': ' '"),
    ("", "n1: cannot parse string ''"),
])
def test_read_int_errors(text, message):
    with pytest.raises(HtoolsError) as err:
        read_int("n1", text)
    assert err.value.message == message


def test_read_float():
    assert read_float("n", "16384") == 16384.0
    assert read_float("n", "1e3") == 1000.0
    assert read_float("n", "1.25") == 1.25
    with pytest.raises(HtoolsError):
        read_float("n", ".5")
