"""Link with core's as_dict() fields; its id is a str subclass (sha256 of the interface ids).

As in core, the id is computed once, in __init__, from the endpoints' ids at that moment.
"""

import hashlib

from kytos.core.common import entity_status


class LinkID(str):
    def __new__(cls, interface_a, interface_b):
        raw = "".join(sorted((interface_a, interface_b)))
        return super().__new__(cls, hashlib.sha256(raw.encode()).hexdigest())


class Link:
    def __init__(self, endpoint_a, endpoint_b):
        self.endpoint_a = endpoint_a
        self.endpoint_b = endpoint_b
        self._id = LinkID(endpoint_a.id, endpoint_b.id)
        self.metadata = {}
        self.active = True
        self.enabled = True
        self.status_reason = set()
        endpoint_a.link = endpoint_b.link = self

    @property
    def id(self):
        return self._id

    @property
    def status(self):
        return entity_status(self.enabled, self.active)

    def as_dict(self):
        return {"id": self.id, "endpoint_a": self.endpoint_a.as_dict(),
                "endpoint_b": self.endpoint_b.as_dict(), "metadata": self.metadata,
                "active": self.active, "enabled": self.enabled, "status": self.status.value,
                "status_reason": sorted(self.status_reason)}
