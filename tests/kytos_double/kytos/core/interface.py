"""Interface with core's as_dict() fields; its id is a str subclass '<dpid>:<port>'.

``speed`` is a property as in core (kytos-ng 2025.2.1, kytos/core/interface.py): the port's
OpenFlow features, else the custom speed given, else 0 for the OFPP_LOCAL port, else None -
and then it logs a WARNING on the ``kytos.core.interface`` logger, as core does. as_dict()
reads it, so does every Link and Switch as_dict() through their interfaces.
"""

import logging

from kytos.core.common import entity_status

LOG = logging.getLogger(__name__)  # "kytos.core.interface", as in core

# python-openflow's PortFeatures bits (v0x01's are also v0x04's) and OFPP_LOCAL port numbers.
_V0X01_SPEEDS = ((1 << 6, 10 * 10**9 / 8), (1 << 4 | 1 << 5, 10**9 / 8),
                 (1 << 2 | 1 << 3, 100 * 10**6 / 8), (1 << 0 | 1 << 1, 10 * 10**6 / 8))
_V0X04_SPEEDS = ((1 << 9, 10**12 / 8), (1 << 8, 100 * 10**9 / 8), (1 << 7, 40 * 10**9 / 8))
OFPP_LOCAL_V0X01, OFPP_LOCAL_V0X04 = 0xfffe, 0xfffffffe


class InterfaceID(str):
    pass


class Interface:
    # Core's positional order (name, port_number, switch, address, state, features, speed).
    def __init__(self, name, port_number, switch, address=None, state=None, features=None,
                 speed=None):
        self.name = name
        self.port_number = int(port_number)
        self.switch = switch
        self.address = address
        self.state = state
        self.features = features
        self._custom_speed = speed
        self.metadata = {}
        self.active = True
        self.enabled = True
        self.status_reason = set()
        self.link = None
        self.nni = False
        self.uni = True

    @property
    def id(self):
        return InterfaceID(f"{self.switch.dpid}:{self.port_number}")

    @property
    def status(self):
        return entity_status(self.enabled, self.active)

    @property
    def speed(self):
        """Bytes per second or None; logs a WARNING when unknown, as core does."""
        speed = self.get_of_features_speed()
        if speed is not None:
            return speed
        if self._custom_speed is not None:
            return self._custom_speed
        if self.port_number == (OFPP_LOCAL_V0X04 if self._is_v0x04() else OFPP_LOCAL_V0X01):
            return 0
        switch_id = self.switch.id
        if isinstance(switch_id, str) and len(switch_id) > 20:
            switch_id = switch_id[:3] + "..." + switch_id[-3:]
        LOG.warning("Couldn't get port %s speed, sw %s, feats %s",
                    self.port_number, switch_id, self.features)
        return None

    def get_of_features_speed(self):
        """The speed the port's OpenFlow features say (the 40G+ bits on OpenFlow 1.3 only)."""
        features = self.features
        speeds = _V0X01_SPEEDS + (_V0X04_SPEEDS if self._is_v0x04() else ())
        for bits, speed in speeds:
            if features and features & bits:
                return speed
        return None

    def _is_v0x04(self):
        """Core: the switch is connected with OpenFlow 1.3. The double's switches never are."""
        return False

    def get_custom_speed(self):
        return self._custom_speed

    def set_custom_speed(self, bytes_per_second):
        self._custom_speed = bytes_per_second

    def as_dict(self):
        return {"id": self.id, "name": self.name, "port_number": self.port_number,
                "mac": self.address, "switch": self.switch.dpid, "type": "interface",
                "nni": self.nni, "uni": self.uni, "speed": self.speed, "metadata": self.metadata,
                "lldp": True, "active": self.active, "enabled": self.enabled,
                "status": self.status.value, "status_reason": sorted(self.status_reason),
                "link": self.link.id if self.link else ""}
