"""Content that breaks whoever reads it, for the bad-input tests."""

from collections.abc import Mapping


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
