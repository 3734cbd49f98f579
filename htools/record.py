"""Record classes: the part of :mod:`dataclasses` the model uses, cheap to define.

Every tool defines the model's records at start-up (Ganeti runs ``hail`` for
each instance creation).  ``@dataclass`` costs about 0.3 ms a class (it
compiles four or five generated methods) and the :mod:`dataclasses` module
itself, which imports :mod:`inspect`, about 5 ms; ``@record`` compiles one
``__init__`` (when the first instance is made) and shares the other methods.

Semantics kept from ``@dataclass`` (and tested against it): fields are the
class's annotations in order, with class-level defaults or
``field(default_factory=...)``; ``__init__`` takes them positionally or by
name and calls ``__post_init__`` if the class has one; ``__eq__`` compares
the tuples of field values of two instances of the same class; ``__repr__``
is ``Name(field=value, ...)``; with ``frozen=True`` assignment raises
:class:`FrozenInstanceError` and instances hash as their field tuple,
otherwise they are unhashable.  :func:`replace` and :func:`fields` work as
:func:`dataclasses.replace` and :func:`dataclasses.fields` (names only).
Not supported: inheritance between records, ``init=False`` fields, ordering.
"""
from __future__ import annotations

from htools import gencode

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Any, Callable, Tuple

__all__ = ["record", "field", "fields", "replace", "FrozenInstanceError"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    __slots__ = ("default", "default_factory")

    def __init__(self, default: Any, default_factory: Any) -> None:
        self.default = default
        self.default_factory = default_factory


def field(*, default: Any = MISSING, default_factory: Any = MISSING) -> Any:
    """A field's default given as a value or a factory (``dataclasses.field``)."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory)


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


def fields(obj: Any) -> Tuple[str, ...]:
    """The field names of a record (class or instance), in order."""
    return obj.__record_fields__


def replace(obj: Any, **changes: Any) -> Any:
    """A new record like ``obj`` with ``changes`` (through ``__init__``)."""
    values = {name: getattr(obj, name) for name in obj.__record_fields__}
    for name in changes:
        if name not in values:
            raise TypeError("%s has no field %r" % (type(obj).__name__, name))
    values.update(changes)
    return obj.__class__(**values)


def _values(self) -> tuple:
    return tuple([getattr(self, name) for name in self.__record_fields__])


def _eq(self, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented


def _repr(self) -> str:
    return "%s(%s)" % (type(self).__qualname__,
                       ", ".join("%s=%r" % (name, getattr(self, name))
                                 for name in self.__record_fields__))


def _frozen_setattr(self, name: str, value: Any) -> None:
    raise FrozenInstanceError("cannot assign to field %r" % name)


def _frozen_delattr(self, name: str) -> None:
    raise FrozenInstanceError("cannot delete field %r" % name)


def _hash(self) -> int:
    return hash(_values(self))


def _compile_init(cls: type, src: str, env: dict) -> Callable:
    init: Callable = gencode.define(src, env, "__init__")
    init.__qualname__ = cls.__qualname__ + ".__init__"
    type.__setattr__(cls, "__init__", init)
    return init


def _first_init(cls: type, src: str, env: dict) -> Callable:
    """An ``__init__`` that compiles the generated one on the first
    instance, installs it on ``cls`` and runs it: compiling costs about
    0.1 ms a class, and a run instantiates few of the records it defines."""
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        init = cls.__dict__["__init__"]
        if init is __init__:
            init = _compile_init(cls, src, env)
        init(self, *args, **kwargs)
    __init__.__qualname__ = cls.__qualname__ + ".__init__"
    __init__._pending = True   # type: ignore[attr-defined]

    def ahead() -> None:        # python -m htools.gencode
        if cls.__dict__.get("__init__") is __init__:
            _compile_init(cls, src, env)
    gencode.pending(ahead)
    return __init__


def _make(cls: type, frozen: bool) -> type:
    names = tuple(cls.__dict__.get("__annotations__", {}))
    env = {"_MISSING": MISSING, "_set": object.__setattr__}
    params = []
    body = []
    seen_default = False
    for name in names:
        default = cls.__dict__.get(name, MISSING)
        if isinstance(default, Field):
            if default.default_factory is not MISSING:
                env["_f_" + name] = default.default_factory
                params.append("%s=_MISSING" % name)
                value = "_f_%s() if %s is _MISSING else %s" % (name, name, name)
                delattr(cls, name)
            else:
                env["_d_" + name] = default.default
                params.append("%s=_d_%s" % (name, name))
                value = name
                setattr(cls, name, default.default)
            seen_default = True
        elif default is not MISSING:
            env["_d_" + name] = default
            params.append("%s=_d_%s" % (name, name))
            value = name
            seen_default = True
        else:
            if seen_default:
                raise TypeError("non-default field %r follows a default one" % name)
            params.append(name)
            value = name
        if frozen:
            body.append("    _set(self, %r, %s)" % (name, value))
        else:
            body.append("    self.%s = %s" % (name, value))
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    src = "def __init__(self%s):\n%s\n" % (
        "".join(", " + p for p in params), "\n".join(body) or "    pass")
    cls.__init__ = _first_init(cls, src, env)
    cls.__record_fields__ = names
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr
    if "__eq__" not in cls.__dict__:
        cls.__eq__ = _eq
        if "__hash__" not in cls.__dict__:
            cls.__hash__ = _hash if frozen else None
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
    return cls


def record(cls: Any = None, *, frozen: bool = False) -> Any:
    """Class decorator: ``@record`` or ``@record(frozen=True)``."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)
