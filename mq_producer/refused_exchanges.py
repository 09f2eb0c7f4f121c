"""Exchanges the broker refuses publishing to, one by one (AMQP: the producer's user may not
write to that exchange). Pure: no I/O, no asyncio.

RabbitMQ answers a publish to such an exchange by closing the channel, and every message in
flight on it fails with the refused one. Retrying them all together closed the channel again
at every retry, twice a second: the other exchanges' messages got through only when they
came before the refused one on the channel, and the alarm said "refuses publishing" and
"takes publishes again" in turn. So an exchange named by the refusal is held on its own: its
messages wait in the buffer, in their lanes, while every other exchange's go on; one of them
is tried alone every RETRY_INTERVAL (``Transport.publish_alone``: a channel of its own), and
once the broker takes it they all go. The publisher does the trying; this keeps the account
and says it in the log: one ERROR line when an exchange is first refused, reminders every
ALARM_REMINDER_INTERVAL, one WARNING when the broker takes its messages again.

An exchange the producer cannot use at all (missing, and its user may not create it; of
another type) is held the same way from the connection on, before any message of it comes:
published to, it would close the channel too (a 404).
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .alarm import OutageAlarm, messages

log = logging.getLogger("kytos.napps.kytos/mq_producer")


@dataclass
class RefusedExchange:
    reason: str  # the broker's refusal, safe to log
    since: float  # wall-clock time (epoch seconds) of the first refusal
    started: float  # monotonic
    last_reminder: float
    dropped_at_start: int
    # What waits for the exchange: buffer lanes (outbox.py) and link status lanes
    # (status_lanes.py), oldest first (dicts as ordered sets).
    lanes: dict[str, None] = field(default_factory=dict)
    links: dict[str, None] = field(default_factory=dict)
    # The exchange itself cannot be used (Transport.unusable_exchanges: missing and not
    # creatable, of another type): held even while none of its messages waits, and checked
    # at each try (Transport.check_exchange).
    unusable: bool = False


class RefusedExchanges:
    def __init__(self, alarm: OutageAlarm, retry_interval: float, reminder_interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._alarm = alarm  # its last_alarm, for the status route, is ours too
        self._retry_interval = retry_interval
        self._reminder_interval = reminder_interval
        self._clock = clock
        self._held: dict[str, RefusedExchange] = {}

    def __bool__(self) -> bool:
        return bool(self._held)

    def __contains__(self, exchange: str) -> bool:
        return exchange in self._held

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._held))

    def get(self, exchange: str) -> RefusedExchange | None:
        return self._held.get(exchange)

    def refused(self, exchange: str, reason: str, dropped: int, *,
                unusable: bool = False) -> bool:
        """The broker refused a message of ``exchange`` (``reason``), or the exchange itself
        cannot be used (``unusable``): its hold begins, with an ERROR line, unless it is held
        already (then the reason is updated). Returns whether the hold began."""
        held = self._held.get(exchange)
        if held is not None:
            held.reason, held.unusable = reason, unusable
            return False
        now = self._clock()
        self._held[exchange] = RefusedExchange(reason, time.time(), now, now, dropped,
                                               unusable=unusable)
        self._say(f"broker refuses publishing to exchange {exchange!r}: {reason}; its messages "
                  "wait in the buffer and the other exchanges' go on; "
                  + ("it is checked again" if unusable else "one is tried")
                  + f" every {self._retry_interval:g}s (docs/operating.rst: "
                  + ("Exchanges at start)" if unusable else "Least privilege)"))
        return True

    def still_refused(self, exchange: str, waiting: int, dropped: int) -> None:
        """A try of the exchange failed again: a reminder, when one is due."""
        held, now = self._held.get(exchange), self._clock()
        if held is None or now - held.last_reminder < self._reminder_interval:
            return
        held.last_reminder = now
        self._say(f"broker still refuses publishing to exchange {exchange!r} after "
                  f"{now - held.started:.0f}s: {held.reason}; {messages(waiting)} waiting for "
                  f"it, {dropped - held.dropped_at_start} dropped from the buffer so far")

    def _say(self, alarm: str) -> None:
        self._alarm.last_alarm = alarm
        log.error("mq_producer ALARM: %s", alarm)

    def taken(self, exchange: str, waiting: int) -> RefusedExchange | None:
        """The broker took a message of the exchange: its hold ends (one WARNING line), and
        what it held is returned for the caller to let go; None if it was not held."""
        held = self._held.pop(exchange, None)
        if held is not None:
            log.warning("mq_producer: broker takes publishes to exchange %r again after %.1fs; "
                        "%s of it go now", exchange, self._clock() - held.started,
                        messages(waiting, "waiting messages"))
        return held

    def forget(self, exchange: str) -> RefusedExchange | None:
        """No message waits for the exchange any more (dropped from a full buffer, or link
        statuses superseded): its hold ends untried, said at INFO; the next message of it
        is published as any other. What it held is returned; None if it was not held."""
        held = self._held.pop(exchange, None)
        if held is not None:
            log.info("mq_producer: no message waits for exchange %r any more; the next one is "
                     "published as any other (the broker refused it for %.0fs)", exchange,
                     self._clock() - held.started)
        return held

    def clear(self) -> None:
        self._held.clear()

    def as_dict(self, waiting: Callable[[str], int]) -> dict[str, dict[str, object]]:
        """For the status route: each exchange held, its refusal and how many of its
        messages wait (``waiting(exchange)``)."""
        now = self._clock()
        return {exchange: {"since": held.since, "reason": held.reason,
                           "duration": round(now - held.started, 3),
                           "waiting": waiting(exchange)}
                for exchange, held in self._held.items()}
