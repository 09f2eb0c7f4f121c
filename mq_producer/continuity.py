"""Link status continuity: what to do when a link's status queue refuses a message.

Each interdomain link has a queue that holds one message and refuses (nacks) the next while
the consumer has not taken it. The broker's refusal is the race-free answer to "has the
consumer consumed the previous message?". This module remembers, per link, the last status
the broker accepted, and decides:

- refused, same status as the last accepted: a repetition the consumer does not need yet -
  dropped and counted as suppressed;
- refused, a different status (or nothing accepted yet, e.g. after a restart): a change -
  kept at the head of the link's lane and offered again after RETRY_INTERVAL, so no change
  is lost and changes stay in order.
"""


class LinkContinuity:
    def __init__(self) -> None:
        self._accepted: dict[str, str] = {}

    def accepted(self, link_id: str, status: str) -> None:
        self._accepted[link_id] = status

    def keep_refused(self, link_id: str, status: str) -> bool:
        """True when a refused status must be offered again; False when it is dropped."""
        return self._accepted.get(link_id) != status
