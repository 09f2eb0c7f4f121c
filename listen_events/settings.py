"""Settings of kytos/listen_events.

Every value is validated once when the NApp loads (see ``config.py``); a bad value stops the
NApp with an error that names the setting. Patterns are Python regular expressions matched
against the whole event name (as ``@alisten_to`` does: ``re.match(pattern + "$", name)``).
"""

# What the NApp listens to (issue 16, EP038/EP039):
#   "topology": the events of SUBSCRIBED_EVENTS; an event no class of CLASSES matches is "not an
#               action event" (counted, not handed on). The seed's behaviour.
#   "all":      every event of the controller (``.*``), but BLOCKED_EVENTS; an event no class of
#               CLASSES matches is handed on all the same, in the class UNCLASSIFIED_CLASS.
#               SUBSCRIBED_EVENTS is not used.
# In both, BLOCKED_EVENTS (and HANDOFF_EVENT, always) are never subscribed nor handed on.
PROFILE = "topology"

# The class of the events no class of CLASSES matches, in the "all" profile: a word (it becomes
# the first word of the routing key), or None to count them as "not an action event" there too.
# Not used in the "topology" profile, where they are not action events, as in the seed.
UNCLASSIFIED_CLASS = "other_events"

# Events never subscribed to nor handed on, in either profile: regexes matched against the whole
# event name (as ``@alisten_to`` does). They leave the subscription (a negative lookahead in the
# one ``@alisten_to`` pattern, so Kytos does not even start a handler for them), and an event
# that reaches the pipeline anyway is counted as "blocked", never handed on. HANDOFF_EVENT is
# blocked whatever this list says: what this NApp hands on is never broadcast again. Read from
# kytos-ng 2025.2 (core, of_core, flow_manager, of_lldp, topology); kafka_events (EP039) blocks
# the OpenFlow messages likewise.
BLOCKED_EVENTS = [
    # Every OpenFlow message of_core receives or sends, on the msg_in / msg_out buffers: echo,
    # packet_in / packet_out, multipart (stats) replies, barrier, flow_mod, port_status... One
    # event per message: thousands a second. (v0x01, v0x04, and the hello of any version.)
    r"kytos/of_core\.v0x[0-9a-f]{2}\.messages\.(in|out)\..*",
    # OpenFlow messages other NApps hand to core for sending: flow_manager's flow_mod and
    # barrier_request (one per flow), of_lldp's LLDP packet_out (one per port every few
    # seconds). What they mean is published by flow_manager's flow.* and of_lldp's events.
    r"[^.]+\.messages\.(in|out)\..*",
    # Core's internals: kytos/core.shutdown (and .shutdown.<napp>), the raw bytes of every TCP
    # read (kytos/core.openflow.raw.in), connections, switch.new / reconnected, interface_tags
    # (one per VLAN allocation). The switch and link changes they cause are published by
    # of_core and topology.
    r"kytos/core\..*",
    # of_core: one event per packet_in that is not LLDP (a host's packets), and every switch's
    # whole flow table every STATS_INTERVAL (60 s; flow_manager's flow.* say what changed).
    r"kytos/of_core\.reachable\.mac",
    r"kytos/of_core\.flow_stats\.received",
    # of_lldp: one event per LLDP packet received (every port, every few seconds).
    r"kytos/of_lldp\.interface\.is\.nni",
    # topology's internal events, and kytos/topology.updated: the whole topology, emitted on
    # almost every change (its changes are published one by one).
    r"kytos/topology\.(notify_link_up_if_status|topo_controller\..*)",
    r"kytos/topology\.updated",
    # This project's own events: listen_events' hand-off events (HANDOFF_EVENT, always blocked
    # anyway) and <napp>.loaded, mq_producer's. Never broadcast what we publish.
    r"kytos/listen_events\..*",
    r"kytos/mq_producer\..*",
]

# Events the NApp subscribes to in the "topology" profile. They are joined into ONE alternation
# for ``@alisten_to`` so that an event matched by two patterns is still handled once. Defaults:
# the seed's ADMIN_EVENTS and OPERATIONAL_EVENTS under the names kytos-ng core really emits, plus
# SDX's ``version/control.initialize``, and the interface events that carry an NNI port's status
# (see NNI_METADATA_KEY).
SUBSCRIBED_EVENTS = [
    r"version/control\.initialize",
    r"kytos/topology\.switch\.(enabled|disabled)",
    r"kytos/topology\.(switches|interfaces|links)\.metadata\.(added|removed)",
    r"kytos/topology\.topology_loaded",
    r"kytos/topology\.link_(up|down)",
    r"kytos/of_core\.switch\.interface\.link_(up|down)",
    r"kytos/topology\.interface\.(up|down|enabled|disabled)",
]

# Classification (the seed's ``listen_event``): the first class whose patterns match the event
# name wins; an event no class matches is "not an action event" and is not handed on (in the
# "all" profile: it is in UNCLASSIFIED_CLASS). Classes in OPERATIONAL_CLASSES are kept only when
# the event carries a timestamp, as in the seed.
CLASSES = {
    "administrative": [
        r"version/control\.initialize",
        r"kytos/topology\.switch\.(enabled|disabled)",
        r"kytos/topology\.interface\.(enabled|disabled)",
        r"kytos/topology\.(switches|interfaces|links)\.metadata\.(added|removed)",
    ],
    "operational": [
        r"kytos/topology\.topology_loaded",
        r"kytos/topology\.link_(up|down)",
        r"kytos/of_core\.switch\.interface\.link_(up|down)",
        r"kytos/topology\.interface\.(up|down)",
    ],
}
OPERATIONAL_CLASSES = ["operational"]

# Filters applied after classification. ALLOW: when not empty, an event name must match one of
# these. DENY: an event name matching one of these is dropped (deny wins over allow).
ALLOW_EVENTS: list[str] = []
DENY_EVENTS: list[str] = []

# Content rules: for events whose name matches "events", the serialized content must satisfy the
# rule or the event is dropped. "path" is a dotted path into the serialized content
# (e.g. "link.metadata.interdomain"); give exactly one of "equals", "in" (a list) or "exists"
# (true/false); a path into a topology's switches or links (topology_loaded) finds nothing: they
# are kept as JSON. Example, only interdomain links:
#   {"events": r"kytos/topology\.link_(up|down)", "path": "link.metadata.interdomain",
#    "equals": True}
CONTENT_RULES: list[dict] = []

# Who produces the messages: a name for this controller and the SDX domain (OXP) it serves.
# Environment variables KYTOS_EVENTS_CONTROLLER and KYTOS_EVENTS_DOMAIN override them.
CONTROLLER_NAME = "kytos"
DOMAIN = ""

# Snapshots: one message per link, and one per NNI port (NNI_METADATA_KEY), with its present
# status, marked "msg_type": "snapshot", so
# that a consumer that (re)starts can catch up. Sent on POST /api/kytos/listen_events/v1/snapshot
# and, when SNAPSHOT_ON_TOPOLOGY_LOADED, after each kytos/topology.topology_loaded. They carry
# the event name SNAPSHOT_EVENT (filters and content rules see that name) and SNAPSHOT_CLASS.
SNAPSHOT_EVENT = "kytos/listen_events.link_snapshot"
SNAPSHOT_CLASS = "operational"
SNAPSHOT_ON_TOPOLOGY_LOADED = True

# The link status an event stands for, for Kytos links and NNI ports alike. An event carries the
# Link (or Interface) object itself, which may have changed by the time the event is serialized
# (a flapping link, events waiting their turn): the envelope's ``link`` is the event's view -
# link.status follows the event ("status_source": "event") and link.active agrees with it -
# while ``content`` shows the object as it was serialized. Events not listed here (and
# snapshots) take link.status from the object ("status_source": "object").
LINK_STATUS_BY_EVENT = {
    "kytos/topology.link_up": "UP",
    "kytos/topology.link_down": "DOWN",
    "kytos/of_core.switch.interface.link_up": "UP",
    "kytos/of_core.switch.interface.link_down": "DOWN",
    "kytos/topology.interface.up": "UP",
    "kytos/topology.interface.down": "DOWN",
    "kytos/topology.interface.disabled": "DISABLED",
}

# Interdomain links (AtlanticWave-SDX NNIs) are ports, not Kytos links: an Interface whose
# metadata holds this key, with the remote OXP's port id as a non-empty string (e.g.
# "zaoxi.ac.za:s1:50", or already "urn:sdx:port:zaoxi.ac.za:s1:50"). Kytos emits no link event
# for them; their status is the interface's. For the events of such an interface (link_up /
# link_down, interface up / down / enabled / disabled, interfaces.metadata added / removed)
# the envelope's ``link`` is the NNI: "kind": "nni", id "urn:sdx:port:<remote port id>" (what
# kytos-sdx publishes as the port's "nni"), endpoint_a the local interface, endpoint_b the
# remote port (id only); its key stays "interface:<interface id>". Snapshots include one
# message per NNI port. "" or None disables NNI handling (interface events then carry no link).
NNI_METADATA_KEY = "sdx_nni"

# The KytosEvent that carries envelopes to the producer NApp(s), on the app buffer. Its content
# is {"envelopes": [...]}: one or more envelopes (at most 100), in event order, and successive
# hand-off events follow that order too. Each is its JSON encoding (bytes), a topology's - or
# a large content's, more than 5,000 values or 65,536 characters of text (serialize.py) - a
# dict (docs/design.rst, "The hand-off"). kytos/mq_producer listens to this name by default.
# Always blocked (BLOCKED_EVENTS): never taken in again.
HANDOFF_EVENT = "kytos/listen_events.broadcast"

# Hand envelopes straight to the producer NApps, without a hand-off event, when every NApp
# listening to HANDOFF_EVENT offers it (kytos/mq_producer does; another listener of the
# event, and it is sent as before, to all of them: docs/design.rst, "The hand-off"). It spares
# the controller a second dispatch of every batch (a put on and a get from its app buffer,
# every NApp's listener patterns matched, a handler task): at a steady pace, one per event.
# The same envelopes reach the same NApps, in the same order. False: always the event.
DIRECT_HAND_OFF = True

# Milliseconds an envelope may wait for others to be handed on with it (like Kafka's
# linger.ms). 0 (the default): handed on at once, an event that comes alone in its own
# handler's step - the lowest latency - or, in a burst (events one per turn of the loop), with
# those that came within 10 ms of it (worker.HAND_OFF_AGE). At a steady pace every event then
# costs its own hand-off, publish, socket write and confirm; a linger lets several share them:
# at 1,000 events/s, LINGER_MS = 10 hands on about ten at a time, for about a third less of
# the NApps' own CPU per event and up to 10 ms more latency (docs/benchmarks.rst, section 7).
# At most 1000.
LINGER_MS = 0
