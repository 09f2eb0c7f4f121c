"""The outage alarm: one line when the broker becomes unreachable (or refuses publishing:
``refused``), reminders, one on recovery; likewise while it blocks publishing (a memory or
disk alarm) with the connection up."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("kytos.napps.kytos/mq_producer")


def messages(count: int, what: str = "messages") -> str:
    """``count`` and ``what`` in its number, for the alarm's lines: "1 message buffered"."""
    return f"{count} {what[:-1] if count == 1 else what}"


@dataclass
class OutageState:
    since: float  # wall-clock time (epoch seconds) the outage began
    started: float  # monotonic
    reason: str
    dropped_at_start: int
    last_reminder: float
    refused: bool = False  # the last failure: the broker refused publishing, not unreachable


@dataclass
class BlockedState:
    since: float  # wall-clock time (epoch seconds) the broker blocked publishing
    started: float  # monotonic
    reason: str
    dropped_at_start: int
    last_reminder: float


class OutageAlarm:
    def __init__(self, reminder_interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._reminder_interval = reminder_interval
        self._clock = clock
        self.outage: OutageState | None = None
        self.blocked: BlockedState | None = None
        self.last_alarm: str | None = None

    def failure(self, reason: str, buffered: int, dropped: int, *,
                refused: bool = False) -> None:
        """Called at every failed attempt; logs only the first and the periodic reminders.
        ``refused``: the broker answered, refusing the publishes (no permission on the
        exchange, the exchange gone): said so, not "unreachable", for the operator to look
        at the broker's permissions and exchanges rather than the network."""
        now, state = self._clock(), "refuses publishing" if refused else "unreachable"
        if self.outage is None:
            self.outage = OutageState(time.time(), now, reason, dropped, now, refused)
            self.last_alarm = (f"broker {state}: {reason}; {messages(buffered)} buffered; "
                               "retrying")
            log.error("mq_producer ALARM: %s", self.last_alarm)
            return
        self.outage.reason, self.outage.refused = reason, refused
        if now - self.outage.last_reminder >= self._reminder_interval:
            self.outage.last_reminder = now
            self.last_alarm = (f"broker still {state} after {now - self.outage.started:.0f}s"
                               f": {reason}; {buffered} buffered, "
                               f"{dropped - self.outage.dropped_at_start} dropped so far")
            log.error("mq_producer ALARM: %s", self.last_alarm)

    def recovered(self, buffered: int, dropped: int, where: str = "") -> None:
        """``where``: the broker (node) answering now, safe to log."""
        if self.outage is None:
            return
        duration = self._clock() - self.outage.started
        log.warning("mq_producer: broker %s again after %.1fs outage; %s to deliver, "
                    "%d dropped during the outage%s",
                    "takes publishes" if self.outage.refused else "reachable", duration,
                    messages(buffered, "buffered messages"),
                    dropped - self.outage.dropped_at_start, f" ({where})" if where else "")
        self.outage = None

    def block(self, reason: str, buffered: int, dropped: int) -> None:
        """The broker stopped taking publishes, the connection staying up: one WARNING."""
        now = self._clock()
        self.blocked = BlockedState(time.time(), now, reason, dropped, now)
        self.last_alarm = (f"broker blocked publishing: {reason}; {messages(buffered)} "
                           "buffered; waiting for it to lift (no reconnect)")
        log.warning("mq_producer: %s", self.last_alarm)

    def still_blocked(self, buffered: int, dropped: int) -> None:
        """Called while blocked (every second or so): a reminder every reminder interval."""
        blocked, now = self.blocked, self._clock()
        if blocked is None or now - blocked.last_reminder < self._reminder_interval:
            return
        blocked.last_reminder = now
        self.last_alarm = (f"broker still blocking publishing after {now - blocked.started:.0f}s"
                           f": {blocked.reason}; {buffered} buffered, "
                           f"{dropped - blocked.dropped_at_start} dropped so far")
        log.warning("mq_producer: %s", self.last_alarm)

    def unblock(self, buffered: int, dropped: int, *, lost: bool = False) -> None:
        """Publishing resumes (or, ``lost``, the connection went: the outage alarm speaks)."""
        blocked, self.blocked = self.blocked, None
        if blocked is None or lost:
            return
        log.warning("mq_producer: broker takes publishes again after %.1fs blocked; %s to "
                    "deliver, %d dropped meanwhile", self._clock() - blocked.started,
                    messages(buffered, "buffered messages"), dropped - blocked.dropped_at_start)

    def as_dict(self) -> dict[str, object]:
        outage = None if self.outage is None else {
            "since": self.outage.since, "reason": self.outage.reason,
            "duration": round(self._clock() - self.outage.started, 3)}
        blocked = None if self.blocked is None else {
            "since": self.blocked.since, "reason": self.blocked.reason,
            "duration": round(self._clock() - self.blocked.started, 3)}
        return {"outage": outage, "blocked": blocked, "last_alarm": self.last_alarm}
