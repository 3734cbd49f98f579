"""htools.enumtype against the standard library's enum on the semantics the model uses."""
import copy
import enum
import pickle

import pytest

from htools import enumtype
from htools.types import AllocPolicy, DiskTemplate, EvacMode, FailMode


class OurColor(enumtype.Enum):
    ALPHA = "a"
    BETA = "b"
    GAMMA = "c"

    def helper(self):
        return self.value * 2

    @property
    def twice(self):
        return self.value * 2


class StdColor(enum.Enum):
    ALPHA = "a"
    BETA = "b"
    GAMMA = "c"

    def helper(self):
        return self.value * 2

    @property
    def twice(self):
        return self.value * 2


class OurFail(enumtype.IntEnum):
    A = 0
    B = 1
    C = 2


class StdFail(enum.IntEnum):
    A = 0
    B = 1
    C = 2


def test_enum_matches_stdlib():
    ours, std = OurColor, StdColor
    assert [m.name for m in ours] == [m.name for m in std] == ["ALPHA", "BETA", "GAMMA"]
    assert [m.value for m in ours] == [m.value for m in std]
    assert len(ours) == len(std) == 3
    for a, b in zip(ours, std):
        assert repr(a) == repr(b).replace("Std", "Our")
        assert str(a) == str(b).replace("Std", "Our") and format(a) == str(a)
        assert hash(a) == hash(a) and hash(b) == hash(b.name)
        assert {a: 1}[a] == 1 and len({a, copy.copy(a), pickle.loads(pickle.dumps(a))}) == 1
        assert ours(a.value) is a and ours(a) is a and ours[a.name] is a
        assert a.helper() == b.helper() and a.twice == b.twice
        assert copy.copy(a) is a and copy.deepcopy(a) is a
        assert pickle.loads(pickle.dumps(a)) is a
        assert a in ours and a == a and (a != ours.ALPHA) == (b != std.ALPHA)
    with pytest.raises(ValueError) as ours_err:
        ours("zz")
    with pytest.raises(ValueError) as std_err:
        std("zz")
    assert str(ours_err.value) == str(std_err.value).replace("Std", "Our")
    with pytest.raises(AttributeError):
        ours.ALPHA = 3
    with pytest.raises(AttributeError):
        ours.ALPHA.value = "q"
    assert list(ours.__members__) == list(std.__members__)


def test_int_enum_matches_stdlib():
    ours, std = OurFail, StdFail
    for a, b in zip(ours, std):
        assert (a.name, a.value, int(a)) == (b.name, b.value, int(b))
        assert repr(a) == repr(b).replace("Std", "Our")
        assert str(a) == str(b) and "%d/%s/%s" % (a, a, format(a)) == "%d/%s/%s" % (b, b, format(b))
        assert hash(a) == hash(b) == hash(int(a)) and a == int(a) and bool(a) == bool(b)
        assert ours(int(a)) is a and ours(a) is a
        assert pickle.loads(pickle.dumps(a)) is a and copy.deepcopy(a) is a
    assert sorted([ours.C, ours.A]) == [ours.A, ours.C] and ours.B + 1 == 2
    with pytest.raises(ValueError):
        ours(7)


def test_model_enumerations():
    assert DiskTemplate("drbd") is DiskTemplate.DRBD and DiskTemplate.from_raw("plain") is DiskTemplate.PLAIN
    assert [d.value for d in DiskTemplate][:3] == ["diskless", "file", "sharedfile"]
    assert EvacMode(EvacMode.CHANGE_ALL) is EvacMode.CHANGE_ALL
    assert FailMode(3) is FailMode.FailN1 and FailMode.FailMem == 0
    assert [p.order for p in AllocPolicy] == [0, 1, 2]
