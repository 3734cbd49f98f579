"""Enumerations: the part of :mod:`enum` the model uses, cheap to define.

Every tool defines the model's enumerations at start-up (Ganeti runs ``hail``
for each instance creation); the :mod:`enum` module and its class machinery
cost a few milliseconds of it.  :class:`Enum` and :class:`IntEnum` here keep
what the code relies on, as :mod:`enum` does it:

* members are the class attributes not starting with ``_`` that are not
  functions, descriptors or nested classes, in definition order; each has
  ``name`` and ``value``; ``Cls(value)`` returns the member (a member
  itself too) or raises ``ValueError("<value!r> is not a valid <Cls>")``;
  iteration, ``len``,
  ``Cls[name]`` and ``__members__``;
* members are singletons: copying, deep-copying and pickling keep identity;
* ``Enum`` members compare and hash by identity (the object hash, which
  the interpreter computes without a call: members key the sets and
  dicts of the allocation loops), ``str`` is ``Cls.NAME``; ``IntEnum``
  members are ints (compare, hash, format and ``str`` as the int, as in
  Python 3.11);
* ``repr`` is ``<Cls.NAME: value!r>``.

Not supported: aliases, ``auto()``, flags, functional API, subclassing an
enumeration that has members.
"""
from __future__ import annotations

__all__ = ["Enum", "IntEnum"]


def _is_member(key: str, value: object) -> bool:
    return (not key.startswith("_") and not callable(value)
            and not hasattr(value, "__get__") and not isinstance(value, type))


class EnumType(type):
    """The metaclass: collects the members when the class is created."""

    def __new__(mcls, name, bases, ns):
        members = [(k, v) for k, v in ns.items() if _is_member(k, v)]
        ns = dict(ns)
        for key, _ in members:
            del ns[key]
        if not any(issubclass(b, int) for b in bases):
            ns.setdefault("__slots__", ())     # ints keep name/value in a dict
        cls = super().__new__(mcls, name, bases, ns)
        by_name = {}
        by_value = {}
        for key, value in members:
            if key in by_name or value in by_value:
                raise TypeError("duplicate member or value in %s: %r" % (name, key))
            member = cls._make_member(value)
            object.__setattr__(member, "name", key)
            object.__setattr__(member, "value", value)
            type.__setattr__(cls, key, member)
            by_name[key] = member
            by_value[value] = member
        type.__setattr__(cls, "_members_", tuple(by_name.values()))
        type.__setattr__(cls, "__members__", by_name)
        type.__setattr__(cls, "_value2member_", by_value)
        return cls

    def __call__(cls, value):
        if isinstance(value, cls):
            return value
        try:
            return cls._value2member_[value]
        except (KeyError, TypeError):
            raise ValueError("%r is not a valid %s" % (value, cls.__qualname__)) from None

    def __iter__(cls):
        return iter(cls._members_)

    def __reversed__(cls):
        return reversed(cls._members_)

    def __len__(cls):
        return len(cls._members_)

    def __getitem__(cls, name):
        return cls.__members__[name]

    def __contains__(cls, member):
        return isinstance(member, cls) and member in cls._members_

    def __setattr__(cls, key, value):
        if key in cls.__dict__.get("__members__", ()):
            raise AttributeError("cannot reassign member %r" % key)
        type.__setattr__(cls, key, value)

    def __repr__(cls):
        return "<enum %r>" % cls.__name__


class Enum(metaclass=EnumType):
    """An enumeration whose members compare by identity."""

    __slots__ = ("name", "value")

    @classmethod
    def _make_member(cls, value):
        return object.__new__(cls)

    def __setattr__(self, key, value):
        raise AttributeError("cannot set %r of an enumeration member" % key)

    def __repr__(self) -> str:
        return "<%s.%s: %r>" % (type(self).__name__, self.name, self.value)

    def __str__(self) -> str:
        return "%s.%s" % (type(self).__name__, self.name)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce_ex__(self, proto):
        return type(self), (self.value,)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class IntEnum(int, metaclass=EnumType):
    """An enumeration whose members are ints."""

    # int subclasses cannot have non-empty __slots__: name and value live in
    # the instance dict

    @classmethod
    def _make_member(cls, value):
        return int.__new__(cls, value)

    def __setattr__(self, key, value):
        raise AttributeError("cannot set %r of an enumeration member" % key)

    def __repr__(self) -> str:
        return "<%s.%s: %r>" % (type(self).__name__, self.name, int(self))

    __str__ = int.__repr__
    __format__ = int.__format__
    __hash__ = int.__hash__

    def __reduce_ex__(self, proto):
        return type(self), (int(self),)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self
