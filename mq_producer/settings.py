"""Settings of kytos/mq_producer.

The broker's location and credentials are NOT here: they come from environment variables
(KYTOS_MQ_URL, or KYTOS_MQ_HOST / _PORT / _USERNAME / _PASSWORD / _VHOST / _TLS; see README).
Every value is validated once when the NApp loads; a bad one stops it with an error naming it.
"""

# Which KytosEvents carry envelopes to publish (a regex, as for @alisten_to). Their content is
# {"envelope": <dict>}, as kytos/listen_events hands them on.
SOURCE_EVENTS = r"kytos/listen_events\.broadcast"

# Where each envelope goes: the first route that matches wins. A route matches on
# "event_class" (exact) and/or "events" (regex on the event name); a route with neither is a
# catch-all. "routing_key" is a template over the envelope's fields: {event_class},
# {event_name}, {msg_type}, {domain}, {controller}, {key}, {link_id}, {dpid}. A field the
# envelope lacks renders as "none". Topic keys are split on ".": the default
# "operational.kytos/topology.link_down" has three words.
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

# Type of the exchanges created when missing (they are always durable).
EXCHANGE_TYPE = "topic"

# Publishes awaiting the broker's confirm at once. More in flight means more throughput; a
# message is retried (same message_id) if its confirm fails or times out.
MAX_IN_FLIGHT = 256

# Messages held until confirmed (queued + in flight). When full, a message for a key (a link,
# a switch) replaces the oldest one queued for the same key, otherwise the oldest is dropped.
BUFFER_SIZE = 10_000

# Seconds between reconnection / re-publish attempts while the broker is unreachable.
RETRY_INTERVAL = 5.0

# Seconds to wait for a publish's confirm before handling it as failed (detects a stalled
# connection together with HEARTBEAT).
PUBLISH_TIMEOUT = 10.0

# AMQP heartbeat in seconds: a silent connection is declared dead after about twice this.
HEARTBEAT = 10

# Seconds between reminder lines while the broker stays unreachable.
ALARM_REMINDER_INTERVAL = 60.0

# Seconds shutdown() lets the publisher flush what is buffered before discarding it.
SHUTDOWN_FLUSH_TIMEOUT = 2.0
