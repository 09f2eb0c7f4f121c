"""Link with core's as_dict() fields; its id is a str subclass (sha256 of the interface ids)."""

import hashlib

from kytos.core.common import entity_status


class LinkID(str):
    pass


class Link:
    def __init__(self, endpoint_a, endpoint_b):
        self.endpoint_a = endpoint_a
        self.endpoint_b = endpoint_b
        self.metadata = {}
        self.active = True
        self.enabled = True
        self.status_reason = set()
        endpoint_a.link = endpoint_b.link = self

    @property
    def id(self):
        ids = sorted([self.endpoint_a.id, self.endpoint_b.id])
        return LinkID(hashlib.sha256("".join(ids).encode()).hexdigest())

    @property
    def status(self):
        return entity_status(self.enabled, self.active)

    def as_dict(self):
        return {"id": self.id, "endpoint_a": self.endpoint_a.as_dict(),
                "endpoint_b": self.endpoint_b.as_dict(), "metadata": self.metadata,
                "active": self.active, "enabled": self.enabled, "status": self.status.value,
                "status_reason": sorted(self.status_reason)}
