"""The transport interface: all the producer asks of a message broker.

Routing, the outbox and the publisher only see this. Each implementation (the amqp and
jetstream packages) is the only place that imports its client library; factory.py picks one.
"""

import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ..outbox import OutboundMessage


class PublishOutcome(enum.Enum):
    CONFIRMED = "confirmed"  # the broker has taken responsibility for the message
    RETURNED = "returned"  # the broker confirmed it but no queue matched (unroutable)
    REJECTED = "rejected"  # the broker refused it (nack), e.g. a full reject-publish queue


class TransportError(Exception):
    """The broker is unreachable or refused: what was attempted may be retried.

    Messages never contain credentials. ``nobody_listening``: the connection was refused
    outright (no broker on that address right now), so trying again soon costs nothing.
    ``outage``: False when the broker is there and only refused another message (a channel
    closed over one message too large): what failed is retried at once, with no alarm.
    ``refused``: the broker is there and refuses the publishes themselves (no permission on
    the exchange, the exchange deleted): the alarm says so rather than "unreachable".
    ``exchange``: the one exchange at fault, when known. With ``refused``, the broker said it
    refuses publishing to that exchange alone (AMQP: no write permission on it): the
    publisher holds that exchange's messages and tries one now and then
    (``Transport.publish_alone``) while the others go on.
    """

    def __init__(self, message: str, *, nobody_listening: bool = False,
                 outage: bool = True, refused: bool = False,
                 exchange: str | None = None) -> None:
        super().__init__(message)
        self.nobody_listening = nobody_listening
        self.outage = outage
        self.refused = refused
        self.exchange = exchange


class Unpublishable(Exception):
    """The broker cannot take this message as it is - larger than its max_message_size, or a
    property that cannot be encoded: retrying cannot help. It costs only itself: the
    publisher logs it, counts it as rejected and goes on with the others."""


class ExchangeError(TransportError):
    """An exchange is missing and cannot be created, or is not what the settings say: the
    broker is there and refuses that exchange's messages until an administrator sees to it
    (the alarm says the broker refuses publishing, not that it is unreachable). ``connect()``
    does not fail for it: the exchange is in ``unusable_exchanges``, and the publisher holds
    its messages while every other exchange's go on."""

    def __init__(self, exchange: str, reason: str) -> None:
        super().__init__(f"exchange {exchange!r}: {reason}", refused=True, exchange=exchange)
        self.reason = reason


async def check_into(unusable: dict[str, ExchangeError], exchange: str,
                     check: Awaitable[None]) -> ExchangeError | None:
    """Await ``check`` of ``exchange`` (it raises ExchangeError when the exchange cannot be
    used): the error, kept in ``unusable`` (a transport's ``unusable_exchanges``), or None,
    the exchange taken out of it. A TransportError (the broker cannot be asked) is raised."""
    try:
        await check
    except ExchangeError as exc:
        unusable[exchange] = exc
        return exc
    unusable.pop(exchange, None)
    return None


Outcome = PublishOutcome | TransportError | Unpublishable
Settle = Callable[[OutboundMessage, int, Outcome], None]
"""``settle(message, attempt, outcome)``: the broker's answer to one publish. ``attempt`` is
``message.attempts`` as it was when the message was sent, so that a late answer to an earlier
attempt can be told apart. A TransportError means no answer came: the message may be retried;
Unpublishable, that it never can be."""


# The most body bytes ``Transport.publish_now`` is given at once: well under a millisecond of
# framing and copying (a larger batch goes through ``publish``, which gives the loop turns).
SYNC_PUBLISH_BYTES = 64 * 1024


class Transport(Protocol):
    """A broker connection that publishes with confirmation."""

    @property
    def description(self) -> str:
        """Where it connects, safe to log (no password)."""
        ...

    @property
    def connected(self) -> bool:
        """True while publishing may succeed (connected, destinations verified)."""
        ...

    @property
    def destinations(self) -> dict[str, str]:
        """Each exchange (or stream/topic root) and its state, for the status endpoint."""
        ...

    @property
    def queues(self) -> dict[str, str]:
        """Each queue the transport declared and its state (empty where there are none)."""
        ...

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """Have ``callback(reason)`` called when an established connection is lost, so an
        outage is noticed even while there is nothing to publish."""
        ...

    def on_blocked(self, callback: Callable[[str | None], None]) -> None:
        """Have ``callback(reason)`` called when the broker stops taking publishes without
        closing the connection (RabbitMQ's connection.blocked: a memory or disk alarm), and
        ``callback(None)`` when it takes them again. A transport that cannot tell never calls
        it (a blocked broker then looks stalled)."""
        ...

    def ready(self, message: OutboundMessage) -> bool:
        """Whether ``message`` may be published now: False while a destination it needs of
        its own (an interdomain link's status queue) is being prepared in the background.
        The caller then holds the message back until ``on_ready``'s callback names its
        ``link_id``; a preparation that fails still ends in that callback (the message is
        published all the same). Called for every message with a ``link_id``: a dict lookup
        at most. Never calls the callback itself. A transport without such destinations
        answers True."""
        ...

    def on_ready(self, callback: Callable[[str], None]) -> None:
        """Have ``callback(link_id)`` called once the destination of the link's messages,
        for which ``ready`` answered False, is prepared (or could not be)."""
        ...

    def destination(self, message: OutboundMessage) -> tuple[str, str]:
        """The exchange (a stream, for JetStream) and routing key ``message`` is published
        with: its own, except where the transport sends a link status elsewhere (AMQP: its
        link's queue, through LINK_STATUS' queues exchange). What the counts per exchange,
        the recent messages and the log lines name."""
        ...

    @property
    def status_copies(self) -> bool:
        """Whether an accepted link status is published once more, on LINK_STATUS.exchange,
        for the other consumers (AMQP: status messages go straight to their link's queue).
        False where the status destination is that exchange itself (JetStream's stream)."""
        ...

    def declare_again(self, link_id: str) -> bool:
        """The link's status came back unroutable: if its queue was declared on this
        connection (so it was deleted or unbound since), declare it again and answer True;
        ``on_ready``'s callback names the link once it is. False where it was not (still
        being declared, refused) or the transport has no such queues: nothing is done."""
        ...

    async def purge_status(self, link_id: str) -> int | None:
        """Remove what waits unread in the link's status queue; return how many messages
        that was (0 or 1), or None when the transport cannot (its status lane then retries
        after RETRY_INTERVAL). Raises TransportError when the broker cannot be asked."""
        ...

    async def connect(self) -> None:
        """Connect if needed and check (creating when missing) every destination.

        Raises TransportError when that cannot be done. An exchange that cannot be used
        (missing and not creatable, of another type) does not fail it: it is then in
        ``unusable_exchanges``, and ``connected`` is True all the same.
        """
        ...

    @property
    def unusable_exchanges(self) -> dict[str, ExchangeError]:
        """The exchanges the last ``connect()`` (or ``check_exchange``) found unusable, and
        why. A message of one of them is not to be given to ``publish``: the broker would
        close the channel over it (AMQP's 404), failing every message in flight with it."""
        ...

    async def check_exchange(self, exchange: str) -> ExchangeError | None:
        """Check an unusable exchange again, as ``connect()`` does (creating it when missing
        and allowed): None once it can be published to (it leaves ``unusable_exchanges``),
        else why not. Raises TransportError when the broker cannot be asked."""
        ...

    async def publish(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        """Send ``messages`` in order; return once they are handed to the client, without
        waiting for the broker's answers. ``settle`` is then called exactly once per message,
        never from inside this call.

        Raises TransportError when nothing could be sent (settle is not called then).
        """
        ...

    async def publish_alone(self, message: OutboundMessage) -> Outcome:
        """Send ``message`` on its own, apart from what ``publish`` sends (AMQP: on a channel
        of its own, which the broker closes if it refuses it), and return the broker's answer:
        a TransportError when none came. Never disturbs the messages in flight: the
        publisher tries one message of an exchange that refused publishing this way. The
        exchange of a message is checked first when it is in ``unusable_exchanges``
        (``check_exchange``): still unusable, its ExchangeError is the answer."""
        ...

    def can_publish_now(self) -> bool:
        """Whether ``publish_now`` may be called in this step of the loop (nothing awaited
        in between): connected, and able to send without awaiting."""
        ...

    def publish_now(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        """``publish`` done in the caller's step, for small messages (their bodies at most
        SYNC_PUBLISH_BYTES in all), right after ``can_publish_now`` said True: the step that
        took an event in publishes it, where waking the publishing task cost a step and a
        turn of the loop. Raises TransportError as ``publish`` does."""
        ...

    def answers_wanted(self) -> None:
        """Messages wait for the broker's answers to others (the one before them of their
        key, or room in flight): a transport that gathers answers reads them now."""
        ...

    async def close(self) -> None:
        """Drop the connection (bounded wait). Messages still unanswered are settled with a
        TransportError."""
        ...

    def abandon(self) -> None:
        """Sync: cancel the tasks the transport created (the controller is stopping)."""
        ...
