"""The transports: how messages reach a broker.

``base`` is the interface the NApp's own modules see; ``factory`` picks one implementation by
the settings; each implementation is a package with its own helpers (``amqp``: RabbitMQ on
aio-pika, ``jetstream``: NATS JetStream on nats-py) and is the only place its client library
is imported. Importing this package imports no client library.
"""
