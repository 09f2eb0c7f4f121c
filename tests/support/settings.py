"""A NApp's settings module, copied with some values changed, for config tests."""

import types
from typing import Any


def settings_with(module: types.ModuleType, **overrides: Any) -> types.SimpleNamespace:
    """Every upper-case setting of ``module``, then ``overrides``."""
    values = {name: getattr(module, name) for name in dir(module) if name.isupper()}
    values.update(overrides)
    return types.SimpleNamespace(**values)
