"""EntityStatus as in core."""

from enum import Enum


class EntityStatus(Enum):
    UP = "UP"
    DISABLED = "DISABLED"
    DOWN = "DOWN"
