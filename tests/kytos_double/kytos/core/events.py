"""KytosEvent as in kytos-ng 2025.2.1."""

import datetime as dt
import uuid


class KytosEvent:
    def __init__(self, name=None, content=None, trace_parent=None, priority=0):
        self.name = name
        self.content = content if content is not None else {}
        self.timestamp = dt.datetime.now(dt.UTC)
        self.reinjections = 0
        self.priority = priority
        self.id = uuid.uuid4()
        self.trace_parent = trace_parent

    def __repr__(self):
        return f"KytosEvent({self.name!r}, {self.content!r}, {self.priority})"
