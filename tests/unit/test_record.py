"""htools.record against dataclasses: the same behaviour for what the model uses."""
import dataclasses
from typing import List, Optional

import pytest

from htools import record as rec


def _pair(frozen=False, post_init=False):
    """The same class defined with @dataclass and with @record."""
    made = []
    for deco, fld in ((dataclasses.dataclass(frozen=frozen), dataclasses.field),
                      (rec.record(frozen=frozen), rec.field)):
        ns = {"List": List, "Optional": Optional}

        class C:
            a: int
            b: str
            c: Optional[int] = None
            d: List[int] = fld(default_factory=list)
            e: float = 1.5
            if post_init:
                def __post_init__(self):
                    if frozen:
                        object.__setattr__(self, "e", self.e * 2)
                    else:
                        self.e = self.e * 2
        del ns
        made.append(deco(C))
    return made


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("post_init", [False, True])
def test_same_behaviour_as_dataclass(frozen, post_init):
    D, R = _pair(frozen, post_init)
    for args, kw in [((1, "x"), {}), ((1, "x", 3), {"e": 2.0}),
                     ((), {"a": 2, "b": "y", "d": [1]}), ((1, "x", None, [4], 0.5), {})]:
        d, r = D(*args, **kw), R(*args, **kw)
        assert [getattr(r, f.name) for f in dataclasses.fields(D)] == \
            [getattr(d, f.name) for f in dataclasses.fields(D)]
        assert repr(r).replace(R.__qualname__, "C") == repr(d).replace(D.__qualname__, "C")
        assert r == R(*args, **kw) and not (r != R(*args, **kw))
        assert r != R(9, "z") and (r == d) is False
        if frozen:
            assert hash(R(1, "x", d=(1,))) == hash(R(1, "x", d=(1,)))
            assert hash(R(1, "x", d=(1,))) == hash(D(1, "x", d=(1,)))
            with pytest.raises(AttributeError):
                r.a = 5
            with pytest.raises(dataclasses.FrozenInstanceError):
                d.a = 5
        else:
            with pytest.raises(TypeError):
                hash(r)
            with pytest.raises(TypeError):
                hash(d)
        r2, d2 = rec.replace(r, b="q"), dataclasses.replace(d, b="q")
        assert [getattr(r2, n) for n in rec.fields(r2)] == \
            [getattr(d2, f.name) for f in dataclasses.fields(d2)]
    # fresh default lists, missing and unknown arguments
    assert R(1, "x").d is not R(1, "x").d
    for cls in (D, R):
        with pytest.raises(TypeError):
            cls(1)
        with pytest.raises(TypeError):
            cls(1, "x", bogus=1)
    with pytest.raises(TypeError):
        rec.replace(R(1, "x"), bogus=1)
    assert rec.fields(R) == tuple(f.name for f in dataclasses.fields(D))


def test_nan_fields_compare_like_tuples():
    D, R = _pair()
    nan = float("nan")
    for cls in (D, R):
        # the same NaN object is equal (tuple identity), two NaNs are not
        assert cls(1, "x", e=nan) == cls(1, "x", e=nan)
        assert cls(1, "x", e=float("nan")) != cls(1, "x", e=float("nan"))


def test_non_default_after_default_rejected():
    class Bad:
        a: int = 1
        b: int
    with pytest.raises(TypeError):
        rec.record(Bad)
