"""Topology objects shaped like kytos-ng's, built with the core classes (real or double)."""

from types import SimpleNamespace
from typing import Any

from kytos.core.interface import Interface
from kytos.core.link import Link
from kytos.core.switch import Switch


def add_interface(switch: Switch, name: str, port: int, cls: type = Interface,
                  **kwargs: Any) -> Interface:
    """An interface of ``switch``, in its ``interfaces`` as core puts it there
    (``Switch.update_interface``: an Interface does not add itself)."""
    interface = cls(name, port, switch, **kwargs)
    switch.update_interface(interface)
    return interface


def make_link(index: int = 1, interdomain: bool = False) -> Link:
    switch_a = Switch(f"00:00:00:00:00:00:00:{index:02x}")
    switch_b = Switch(f"00:00:00:00:00:00:01:{index:02x}")
    link = Link(add_interface(switch_a, f"eth{index}", index),
                add_interface(switch_b, f"eth{index}", 10 + index))
    if interdomain:
        link.metadata["interdomain"] = True
    return link


def link_event(link: Link, up: bool) -> tuple[str, dict]:
    """(name, content) of kytos/topology.link_up / link_down, as topology emits it, after
    setting the link's state as the event says."""
    link.active = up
    name = "kytos/topology.link_up" if up else "kytos/topology.link_down"
    return name, {"link": link, "reason": "link up" if up else "link down"}


def make_nni(index: int = 1, sdx_nni: str | None = "zaoxi.ac.za:s1:50") -> Interface:
    """An interface of our own switch; with ``sdx_nni`` (the remote OXP's port id, as the
    kytos/sdx NApp's metadata has it) it is an SDX NNI port: an interdomain link."""
    switch = Switch(f"00:00:00:00:00:00:02:{index:02x}")
    interface = add_interface(switch, f"nni{index}", index)
    if sdx_nni is not None:
        interface.metadata["sdx_nni"] = sdx_nni
    return interface


def nni_link_id(sdx_nni: str) -> str:
    """The link id of an SDX NNI port in envelopes (kytos-sdx's ``port["nni"]``)."""
    return sdx_nni if sdx_nni.startswith("urn:sdx:port:") else f"urn:sdx:port:{sdx_nni}"


# Interface events, with the state each leaves the interface in: (active, enabled); None:
# unchanged. of_core's carry {"interface"}, topology's {"interface", "reason"}.
INTERFACE_EVENTS = {
    "kytos/of_core.switch.interface.link_up": (True, None),
    "kytos/of_core.switch.interface.link_down": (False, None),
    "kytos/topology.interface.up": (True, None),
    "kytos/topology.interface.down": (False, None),
    "kytos/topology.interface.enabled": (None, True),
    "kytos/topology.interface.disabled": (None, False),
}


def interface_event(interface: Interface, name: str) -> tuple[str, dict]:
    """(name, content) of an interface event as Kytos emits it, after setting the interface's
    state as the event says (as of_core and topology do before they emit it)."""
    active, enabled = INTERFACE_EVENTS[name]
    if active is not None:
        interface.active = active
    if enabled is not None:
        interface.enabled = enabled
    if name.startswith("kytos/of_core."):
        return name, {"interface": interface}
    return name, {"interface": interface, "reason": name.rsplit(".", 1)[1]}


def make_topology(switches: int, links: int) -> SimpleNamespace:
    """What kytos/topology's topology_loaded carries: .switches and .links dicts, no as_dict."""
    all_switches = {}
    all_links = {}
    for index in range(switches):
        switch = Switch(f"00:00:00:00:{index >> 24 & 255:02x}:{index >> 16 & 255:02x}:"
                        f"{index >> 8 & 255:02x}:{index & 255:02x}")
        all_switches[switch.id] = switch
    switch_list = list(all_switches.values())
    for index in range(links):
        switch_a = switch_list[index % len(switch_list)]
        switch_b = switch_list[(index + 1) % len(switch_list)]
        link = Link(add_interface(switch_a, f"p{index}a", 1000 + index),
                    add_interface(switch_b, f"p{index}b", 1000 + index))
        all_links[link.id] = link
    return SimpleNamespace(switches=all_switches, links=all_links)
