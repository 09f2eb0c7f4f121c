"""kytos.core: the names NApps import."""

import logging

from kytos.core.events import KytosEvent
from kytos.core.napps import KytosNApp, rest

log = logging.getLogger("kytos.napps")

__all__ = ["KytosEvent", "KytosNApp", "log", "rest"]
