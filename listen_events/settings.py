"""Settings of kytos/listen_events.

Every value is validated once when the NApp loads (see ``config.py``); a bad value stops the
NApp with an error that names the setting. Patterns are Python regular expressions matched
against the whole event name (as ``@alisten_to`` does: ``re.match(pattern + "$", name)``).
"""

# Events the NApp subscribes to. They are joined into ONE alternation for ``@alisten_to`` so that
# an event matched by two patterns is still handled once. Defaults: the seed's ADMIN_EVENTS and
# OPERATIONAL_EVENTS under the names kytos-ng core really emits, plus SDX's
# ``version/control.initialize``.
SUBSCRIBED_EVENTS = [
    r"version/control\.initialize",
    r"kytos/topology\.switch\.(enabled|disabled)",
    r"kytos/topology\.(switches|interfaces|links)\.metadata\.(added|removed)",
    r"kytos/topology\.topology_loaded",
    r"kytos/topology\.link_(up|down)",
]

# Classification (the seed's ``listen_event``): the first class whose patterns match the event
# name wins; an event no class matches is "not an action event" and is not handed on. Classes in
# OPERATIONAL_CLASSES are kept only when the event carries a timestamp, as in the seed.
CLASSES = {
    "administrative": [
        r"version/control\.initialize",
        r"kytos/topology\.switch\.(enabled|disabled)",
    ],
    "operational": [
        r"kytos/topology\.topology_loaded",
        r"kytos/topology\.link_(up|down)",
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
# (true/false). Example, only interdomain links:
#   {"events": r"kytos/topology\.link_(up|down)", "path": "link.metadata.interdomain",
#    "equals": True}
CONTENT_RULES: list[dict] = []

# Who produces the messages: a name for this controller and the SDX domain (OXP) it serves.
# Environment variables KYTOS_EVENTS_CONTROLLER and KYTOS_EVENTS_DOMAIN override them.
CONTROLLER_NAME = "kytos"
DOMAIN = ""

# Snapshots: one message per link with its present status, marked "msg_type": "snapshot", so
# that a consumer that (re)starts can catch up. Sent on POST /api/kytos/listen_events/v1/snapshot
# and, when SNAPSHOT_ON_TOPOLOGY_LOADED, after each kytos/topology.topology_loaded. They carry
# the event name SNAPSHOT_EVENT (filters and content rules see that name) and SNAPSHOT_CLASS.
SNAPSHOT_EVENT = "kytos/listen_events.link_snapshot"
SNAPSHOT_CLASS = "operational"
SNAPSHOT_ON_TOPOLOGY_LOADED = True

# The link status an event stands for. An event carries the Link object itself, which may have
# changed by the time the event is serialized (a flapping link, events waiting their turn): the
# envelope's link.status follows the event, content.link shows the object as it was serialized.
# Events not listed here (and snapshots) take link.status from the Link.
LINK_STATUS_BY_EVENT = {
    "kytos/topology.link_up": "UP",
    "kytos/topology.link_down": "DOWN",
}

# The KytosEvent that carries envelopes to the producer NApp(s), on the app buffer. Its content
# is {"envelopes": [...]}: one or more envelopes (at most 100), in event order, and successive
# hand-off events follow that order too. Each is its JSON encoding (bytes), a topology's a dict
# (docs/design.rst, "The hand-off"). kytos/mq_producer listens to this name by default.
HANDOFF_EVENT = "kytos/listen_events.broadcast"
