"""Consume Kytos event envelopes from RabbitMQ: a library and the ``mq-consumer`` command."""
