"""AMQP 0-9-1 (RabbitMQ): ``broker`` (location, credentials, TLS), ``connection`` (the robust
connection), ``frames`` (the publish fast path's frame encoding), ``transport``."""
