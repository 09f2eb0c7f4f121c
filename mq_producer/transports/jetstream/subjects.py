"""Exchange and routing key -> JetStream stream and subject. Pure: no I/O, no client library.

NATS subjects are tokens separated by ``.``; a token may not be empty and may not contain
whitespace, and ``*`` and ``>`` are wildcards. Stream names may not contain ``.``, ``*``,
``>``, whitespace or path separators. AMQP topic routing keys are words separated by ``.``
too, so the mapping keeps every word as one token - ``*`` and ``#`` bindings translate to
``*`` and ``>`` filters - and escapes only what NATS forbids:

- subject = ``<exchange tokens>.<routing key tokens>``: the exchange name and the routing key
  are split on ``.``; in every word, whitespace, ``*``, ``>`` and ``%`` (and control
  characters) become ``%XX`` (their UTF-8 bytes in upper-case hex); an empty word (``a..b``,
  a leading or trailing dot, an empty routing key) becomes ``%``, which an escaped word can
  never be. ``operational.kytos/topology.link_down`` on exchange ``operational_events`` is
  ``operational_events.operational.kytos/topology.link_down``; the mapping is one-to-one.
- stream = the exchange name with every character other than letters, digits, ``_`` and
  ``-`` replaced by ``_`` (``kytos.events`` -> ``kytos_events``); it captures
  ``<exchange tokens>.>``.

Two exchanges whose streams would have the same name, or whose subject spaces would overlap
(``a`` and ``a.b``: ``a.>`` takes ``a.b.x`` too), are refused by :func:`destinations_for`.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

_STREAM_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
EMPTY_WORD = "%"


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one exchange's messages go on JetStream."""

    exchange: str
    stream: str
    root: str  # subject prefix; the stream captures f"{root}.>"

    @property
    def filter(self) -> str:
        return f"{self.root}.>"


def _escape_char(char: str) -> str:
    if char in "*>%" or char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
        return "".join(f"%{byte:02X}" for byte in char.encode())
    return char


def escape_word(word: str) -> str:
    """One AMQP word as one valid subject token."""
    if not word:
        return EMPTY_WORD
    return "".join(_escape_char(char) for char in word)


def tokens(text: str) -> str:
    """A dotted name (exchange, routing key) as subject tokens: one token per word."""
    return ".".join(escape_word(word) for word in text.split("."))


def stream_name(exchange: str) -> str:
    return _STREAM_UNSAFE.sub("_", exchange)


def destination(exchange: str) -> Destination:
    return Destination(exchange, stream_name(exchange), tokens(exchange))


def subject(dest: Destination, routing_key: str) -> str:
    """The subject a message with this routing key is published to."""
    return f"{dest.root}.{tokens(routing_key)}"


def destinations_for(exchanges: Iterable[str]) -> dict[str, Destination]:
    """Each exchange's stream and subject root; ValueError when two of them would clash."""
    result: dict[str, Destination] = {}
    for exchange in dict.fromkeys(exchanges):
        dest = destination(exchange)
        for other in result.values():
            if other.stream == dest.stream:
                raise ValueError(f"exchanges {other.exchange!r} and {exchange!r} both map to "
                                 f"JetStream stream {dest.stream!r}: rename one")
            shorter, longer = sorted((other.root.split("."), dest.root.split(".")), key=len)
            if longer[:len(shorter)] == shorter:
                raise ValueError(f"exchanges {other.exchange!r} and {exchange!r} have "
                                 f"overlapping JetStream subjects ({other.filter} and "
                                 f"{dest.filter}): rename one")
        result[exchange] = dest
    return result
