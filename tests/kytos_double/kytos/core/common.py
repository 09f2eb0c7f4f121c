"""EntityStatus as in core."""

from enum import Enum


class EntityStatus(Enum):
    UP = "UP"
    DISABLED = "DISABLED"
    DOWN = "DOWN"


def entity_status(enabled, active):
    """Core's rule: a disabled entity is DISABLED, else UP when active, else DOWN."""
    if not enabled:
        return EntityStatus.DISABLED
    return EntityStatus.UP if active else EntityStatus.DOWN
