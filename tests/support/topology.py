"""Topology objects shaped like kytos-ng's, built with the core classes (real or double)."""

from types import SimpleNamespace

from kytos.core.interface import Interface
from kytos.core.link import Link
from kytos.core.switch import Switch


def make_link(index: int = 1, interdomain: bool = False) -> Link:
    switch_a = Switch(f"00:00:00:00:00:00:00:{index:02x}")
    switch_b = Switch(f"00:00:00:00:00:00:01:{index:02x}")
    link = Link(Interface(f"eth{index}", index, switch_a), Interface(f"eth{index}", 10 + index,
                                                                       switch_b))
    if interdomain:
        link.metadata["interdomain"] = True
    return link


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
        link = Link(Interface(f"p{index}a", 1000 + index, switch_a),
                    Interface(f"p{index}b", 1000 + index, switch_b))
        all_links[link.id] = link
    return SimpleNamespace(switches=all_switches, links=all_links)
