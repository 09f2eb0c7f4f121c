"""Interface with core's as_dict() fields; its id is a str subclass '<dpid>:<port>'."""

from kytos.core.common import entity_status


class InterfaceID(str):
    pass


class Interface:
    def __init__(self, name, port_number, switch, speed=None):
        self.name = name
        self.port_number = int(port_number)
        self.switch = switch
        self.speed = speed
        self.metadata = {}
        self.active = True
        self.enabled = True
        self.status_reason = set()
        self.link = None
        self.nni = False
        self.uni = True
        switch.interfaces[self.port_number] = self

    @property
    def id(self):
        return InterfaceID(f"{self.switch.dpid}:{self.port_number}")

    @property
    def status(self):
        return entity_status(self.enabled, self.active)

    def as_dict(self):
        return {"id": self.id, "name": self.name, "port_number": self.port_number,
                "mac": "00:00:00:00:00:01", "switch": self.switch.dpid, "type": "interface",
                "nni": self.nni, "uni": self.uni, "speed": self.speed, "metadata": self.metadata,
                "lldp": True, "active": self.active, "enabled": self.enabled,
                "status": self.status.value, "status_reason": sorted(self.status_reason),
                "link": self.link.id if self.link else ""}
