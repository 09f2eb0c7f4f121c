"""Switch with core's as_dict() fields."""

from kytos.core.common import entity_status


class Switch:
    def __init__(self, dpid):
        self.dpid = dpid
        self.interfaces = {}
        self.metadata = {}
        self.active = True
        self.enabled = True
        self.status_reason = set()

    @property
    def id(self):
        return self.dpid

    def update_interface(self, interface):
        """Core's way to add (or replace) an interface: an Interface does not add itself."""
        self.interfaces[interface.port_number] = interface

    @property
    def status(self):
        return entity_status(self.enabled, self.active)

    def as_dict(self):
        return {"id": self.id, "name": self.id, "dpid": self.dpid, "connection": "",
                "ofp_version": "0x04", "type": "switch", "manufacturer": "", "serial": "",
                "hardware": "", "software": None, "data_path": "",
                "interfaces": {iface.id: iface.as_dict() for iface in self.interfaces.values()},
                "metadata": self.metadata, "active": self.active, "enabled": self.enabled,
                "status": self.status.value, "status_reason": sorted(self.status_reason)}
