"""Content that breaks whoever reads it, for the bad-input and property tests."""

import enum
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st


class BrokenMapping(Mapping):
    """A mapping whose items() and iteration raise: serializing it fails."""

    def __getitem__(self, key):
        raise KeyError(key)

    def __iter__(self):
        raise RuntimeError("cannot iterate")

    def __len__(self):
        return 1

    def items(self):
        raise RuntimeError("cannot list items")


class Color(enum.Enum):
    RED = "red"
    NESTED = (1, ("a", 2.5))


class Opaque:
    """No JSON form, no attributes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Opaque()"


class BadRepr:
    __slots__ = ()

    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


class AsDictRaises:
    def as_dict(self):
        raise KeyError("as_dict is broken")


class AsDictSelf:
    def as_dict(self):
        return self


def cycle(items: list) -> dict:
    """A dict and a list that hold themselves."""
    items = list(items)
    items.append(items)
    mapping: dict = {"items": items}
    mapping["self"] = mapping
    return mapping


def nest(depth: int, leaf: Any) -> Any:
    """``leaf`` in ``depth`` levels of lists and dicts, alternately."""
    for level in range(depth):
        leaf = {"d": leaf} if level % 2 else [leaf]
    return leaf


def surrogates(max_size: int) -> st.SearchStrategy[str]:
    """Text of lone surrogates only: not valid UTF-8."""
    return st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1,
                   max_size=max_size)


# Dict keys JSON has no key for (or has one the walk must make up).
KEYS = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.uuids(),
                 st.tuples(st.integers(0, 9)), surrogates(3), st.sampled_from(Color))
