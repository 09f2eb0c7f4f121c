"""Settings of kytos/mq_producer.

The broker's location and credentials are NOT here: they come from environment variables
(KYTOS_MQ_URL, or KYTOS_MQ_HOST / _PORT / _USERNAME / _PASSWORD / _VHOST / _TLS, and for TLS
KYTOS_MQ_CA_FILE / _CERT_FILE / _KEY_FILE; see README.rst and docs/operating.rst).
Every value is validated once when the NApp loads; a bad one stops it with an error naming it.
"""

# Which KytosEvents carry envelopes to publish (a regex, as for @alisten_to). Their content is
# {"envelopes": [...]} (one or more, in order), each envelope a dict or its JSON encoding as
# bytes, as kytos/listen_events hands them on.
SOURCE_EVENTS = r"kytos/listen_events\.broadcast"

# Where each envelope goes: the first route that matches wins. A route matches on
# "event_class" (exact) and/or "events" (regex on the event name); a route with neither is a
# catch-all. "routing_key" is a template over the envelope's fields: {event_class},
# {event_name}, {msg_type}, {domain}, {controller}, {key}, {link_id}, {dpid}, {napp}. A field
# the envelope lacks renders as "none". {napp} is the NApp that emitted the event: the
# envelope's "napp", or else the event name up to its first "." ("kytos/topology.link_down" ->
# "kytos/topology", "version/control.initialize" -> "version/control"). Topic keys are split
# on ".": the default "operational.kytos/topology.link_down" has three words, the second of
# which is the NApp.
# Defaults follow the seed's generate_topic_exchange / generate_routing_key.
ROUTES = [
    {"event_class": "administrative", "exchange": "admin_events",
     "routing_key": "{event_class}.{event_name}"},
    {"event_class": "operational", "exchange": "operational_events",
     "routing_key": "{event_class}.{event_name}"},
    {"exchange": "other_events", "routing_key": "{event_class}.{event_name}"},
]
# Example of a per-link key (bind a queue with "#.<link id>" to follow one link):
#   {"events": r"kytos/topology\.link_(up|down)", "exchange": "operational_events",
#    "routing_key": "{event_class}.{event_name}.{link_id}"},

# Durable queues declared and bound at start, so that events wait for consumers that are not
# connected yet. The default is the seed's create_queues: one queue per event name, dots
# replaced by underscores, bound to that event's default routing key. "arguments" are
# RabbitMQ queue arguments; the length cap keeps a queue nobody reads from growing forever
# (the oldest messages are dropped by the broker past it).
_SEED_EVENTS = {
    "admin_events": ("administrative", ["version/control.initialize",
                                        "kytos/topology.switch.enabled",
                                        "kytos/topology.switch.disabled"]),
    "operational_events": ("operational", ["kytos/topology.topology_loaded",
                                           "kytos/topology.link_up",
                                           "kytos/topology.link_down"]),
}
QUEUES = [
    {"queue": name.replace(".", "_"), "exchange": exchange, "binding": f"{event_class}.{name}",
     "arguments": {"x-max-length": 100_000}}
    for exchange, (event_class, names) in _SEED_EVENTS.items() for name in names
]

# Per-NApp queues (kytos/kytos PR #1267's blueprint: "one queue per napp"). Each NApp of
# "napps" has a durable queue named "prefix" + NApp (e.g. "napp.kytos/mef_eline"), declared
# at start like QUEUES and bound to every exchange of ROUTES with "binding", where {napp} is
# the NApp ("*.{napp}.#" matches the default routing keys "<class>.<napp>.<event>": keep the
# two in step when changing ROUTES). It receives each event of that NApp once. A NApp not
# listed has no queue of its own: its events are in VERBOSE_QUEUE (and wherever else they are
# bound). "arguments" are RabbitMQ queue arguments: the length caps keep a queue nobody reads
# from growing forever - past them the broker drops the oldest messages, so such a queue
# holds the latest events. No dead-letter exchange: what the caps drop is gone (it would
# otherwise pile up in DEAD_LETTER's queue). `mq-consumer --napp kytos/mef_eline` reads one.
NAPP_QUEUES = {
    "enabled": True,
    "prefix": "napp.",
    "napps": [
        # whose events the default listen_events profile publishes (kytos/listen_events:
        # its link snapshots)
        "kytos/topology", "kytos/of_core", "version/control", "kytos/listen_events",
        # other common kytos-ng NApps
        "kytos/mef_eline", "kytos/flow_manager", "kytos/of_lldp", "kytos/maintenance",
    ],
    "binding": "*.{napp}.#",
    "arguments": {"x-max-length": 100_000, "x-max-length-bytes": 64 * 1024 * 1024},
}

# The verbose queue ("a queue for all napps"): one durable queue bound with "#" to every
# exchange of ROUTES, so it receives every event published there exactly once (each message
# goes to one exchange), whichever NApp emitted it. Capped as NAPP_QUEUES (the oldest dropped
# past the caps, no dead-letter exchange). `mq-consumer --verbose` reads it.
VERBOSE_QUEUE = {
    "enabled": True,
    "queue": "verbose",
    "arguments": {"x-max-length": 100_000, "x-max-length-bytes": 64 * 1024 * 1024},
}

# Link status for SDX (the seed's "Interdomain Link Up/Down Monitoring"; docs/consuming.rst,
# "Link status for SDX"). Every interdomain link - an SDX NNI port first: an interface whose
# metadata has listen_events' NNI_METADATA_KEY ("sdx_nni"), link id "urn:sdx:port:<sdx_nni>" -
# has its own durable queue QUEUE_PREFIX + link id (declared when the link is first seen, or
# at start for those in LINK_IDS). It holds one message and refuses the next (x-max-length 1,
# reject-publish) and always ends up holding the link's present status, or nothing once its
# consumer has read it:
# - status messages go straight to that queue; per link at most one waits in the producer,
#   the latest (a newer one replaces it: "superseded"), apart from BUFFER_SIZE;
# - a status equal to the one the queue last accepted is not published ("suppressed");
# - when the queue refuses a change (it holds an older status, unread), the producer purges
#   it and publishes the present status ("replaced"): a consumer that comes back reads the
#   present status at once, never a backlog of old ones;
# - each status the queue accepts is published once more on EXCHANGE, with the routing key
#   COPY_ROUTING_KEY (a template as in ROUTES; None: no copy), for any other consumer: bind a
#   queue there ("#" for all) - it sees each accepted status exactly once, never a retry;
# - sent_time is when a status message is published; one left unread in its queue for
#   REFRESH_AFTER seconds (0: never) is replaced by the same status with a new sent_time, so a
#   consumer that drops messages older than 300 s (SDX-LC) never takes the present status for
#   stale. event_timestamp keeps the event's time.
# A Kytos link is interdomain when its metadata contains every key/value of METADATA, or its
# id is in LINK_IDS; NNI: False ignores NNI ports. Set ENABLED to False for no status at all.
LINK_STATUS = {
    "enabled": True,
    "exchange": "interdomain_links",
    "queue_prefix": "interdomain_link.",
    "metadata": {"interdomain": True},
    "link_ids": [],
    "nni": True,
    "copy_routing_key": "{link_id}",
    "refresh_after": 240.0,
}

# Messages a consumer rejects (invalid envelopes) go to this fanout exchange and the queue of
# the same name; link status queues and mq_consumer's named queues use it.
DEAD_LETTER = "kytos_events.dead"

# Type of every durable queue the producer declares - QUEUES, NAPP_QUEUES, VERBOSE_QUEUE, the
# link status queues, the dead-letter queue: "classic" (one node holds it) or "quorum"
# (replicated over a RabbitMQ cluster's nodes: it survives the loss of a minority of them).
# mq-consumer declares its named queues the same way. A queue that exists with the other type
# is reported in v1/status ("exists with other arguments"). See docs/operating.rst, "Running
# on a RabbitMQ cluster".
QUEUE_TYPE = "classic"

# Many controllers, one broker (docs/operating.rst, "Many controllers, one broker"): the
# domain this producer's routing keys and queues belong to. "" (the default): none, every
# name as above. With a domain D (e.g. "ampath" or "amlight.net", set it to listen_events'
# DOMAIN), or the environment variable KYTOS_MQ_DOMAIN_SCOPE (which wins when set):
# - every routing key starts with "D." (ROUTES' and LINK_STATUS' copies'): bind "D.#" for
#   D's messages, "#" for every domain's, "*.operational.#" for every domain's operational;
#   an empty key is "D" alone (COPY_ROUTING_KEY "" for SDX-LC, which binds its bare domain);
# - every queue the producer declares is "D." + its name, bound with "D." + its binding, so
#   it holds D's messages only: "D.kytos/topology_link_down", "D.napp.kytos/mef_eline",
#   "D.verbose", link status queues "D.interdomain_link.<link id>" (two domains may have
#   the same link id), their exchange "D.interdomain_link.queues"; the dead-letter queue is
#   shared (each message names its producer).
# Exchanges are shared: every domain publishes to the same ones.
DOMAIN_SCOPE = ""

# Type of the exchanges created when missing (they are always durable).
EXCHANGE_TYPE = "topic"

# Publishes awaiting the broker's confirm at once. More in flight means more throughput; a
# message is retried (same message_id) if its confirm fails or times out.
MAX_IN_FLIGHT = 256

# Messages held until confirmed (queued + in flight). Full while the broker is confirming:
# the intake waits for room (nothing is dropped, the burst waits upstream). Full while it is
# unreachable, or has confirmed nothing for PUBLISH_TIMEOUT while it owed an answer (a quiet
# spell does not count): a message for a key (a link, a switch) replaces the oldest one
# queued for the same key, otherwise the oldest is dropped.
BUFFER_SIZE = 10_000

# Messages that wait for room in a full BUFFER_SIZE while the broker keeps confirming (encoded,
# in order, in memory: about their JSON size each). Past it, a broker that confirms slower than
# events arrive for long (a thin link to a distant site, its flow control) no longer takes the
# controller's memory: each new message goes into the buffer all the same and pushes the oldest
# queued one out (counted as dropped, the buffer's drop policy). A WARNING says when.
MAX_WAITING = 50_000

# The longest wait (seconds) before retrying after a failure: the first retry comes after
# 0.5 s, doubling with each failure in a row up to this; every 0.5 s while nothing accepts the
# connection (the broker is down). Also the wait before a refused message is offered again.
RETRY_INTERVAL = 5.0

# Largest message (the JSON of one envelope, in bytes) published. A larger one is not
# published: it is logged (naming the event and its size) and counted as "rejected". Keep it
# at or below the broker's max_message_size (RabbitMQ 3.10: 128 MiB; 4.x: 16 MiB).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# Seconds without an answer to the oldest message in flight after which the connection is
# taken for stalled: it is dropped and replaced, and what was in flight is published again
# (same message_id). Detects a stalled link together with HEARTBEAT.
PUBLISH_TIMEOUT = 10.0

# Publish through mq_producer's own AMQP frame writer (True), or through aiormq's public
# basic_publish (False: slower, the same messages). The writer uses aiormq internals; where an
# aiormq version lacks one, the public path is taken anyway, with a WARNING.
AMQP_FAST_PATH = True

# Milliseconds (0 to 100) the producer leaves its socket unread after a read that brought the
# broker's publisher confirms and nothing else, so that the confirms of a steady flow are read
# several at a time: about 50 us (12 %) less CPU per event at 500 to 1,000 events/s in the
# benchmark (one queue per message; little where the broker acks several at once). Messages
# are still written at once; only their confirms are counted up to this much later (the
# consumers' p50 latency rose by 0.04-0.26 ms in the benchmark, p99 within its noise). On some
# hosts it does not pay at 1,000 events/s (an AMD EPYC KVM guest: no saving, 0.3 ms more p50):
# docs/operating.rst says how to check, and 0 turns it off. Replies, returned messages, the
# broker's notices and a confirm a buffered message waits for (its key's previous one) are
# read at once, and it never holds reads while half of MAX_IN_FLIGHT or more await their
# confirm. 0: read everything as it comes. AMQP only. See docs/design.rst, "Reading confirms
# in gathers".
CONFIRM_READ_LINGER_MS = 5

# AMQP heartbeat in seconds: a silent connection is declared dead after about twice this.
HEARTBEAT = 10

# Seconds between reminder lines while the broker stays unreachable.
ALARM_REMINDER_INTERVAL = 60.0

# Seconds shutdown() lets the publisher flush what is buffered before discarding it.
SHUTDOWN_FLUSH_TIMEOUT = 2.0

# Which broker to publish to: "amqp" (RabbitMQ, aio-pika; the settings above) or "jetstream"
# (NATS JetStream, nats-py; the server comes from KYTOS_NATS_URL). The environment variable
# KYTOS_MQ_TRANSPORT overrides it. With "jetstream" every exchange of ROUTES (and
# LINK_STATUS.exchange) is a stream capturing "<exchange>.>", created when missing with the
# limits in JETSTREAM: max_msgs / max_bytes per stream (-1 = unlimited; the oldest messages
# are discarded past them), max_age in seconds (0 = none), duplicate_window in seconds (how
# long a retried message id is recognised and stored once), storage "file" or "memory",
# replicas (1 to 5, for clusters). QUEUES, NAPP_QUEUES, VERBOSE_QUEUE, DEAD_LETTER,
# EXCHANGE_TYPE and HEARTBEAT's AMQP meaning do not apply there (HEARTBEAT is the NATS ping
# interval). See docs/operating.rst, "Transports".
TRANSPORT = "amqp"
JETSTREAM = {
    "max_msgs": 100_000,
    "max_bytes": -1,
    "max_age": 0,
    "duplicate_window": 120,
    "storage": "file",
    "replicas": 1,
}
