"""NATS JetStream: ``settings`` (server, credentials, stream limits), ``subjects`` (exchange
and routing key to stream and subject), ``transport``."""
