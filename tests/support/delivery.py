"""Checking what a consumer received after a fault: at least once, in order per key."""

from typing import Any


def first_copies_in_order(received: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first copy of each message (by message_id), in arrival order; asserts that these
    keep the producer's order (its sequence) for every key."""
    first_seen: dict[str, dict[str, Any]] = {}
    for body in received:
        first_seen.setdefault(body["message_id"], body)
    per_key: dict[str, list[int]] = {}
    for body in first_seen.values():
        per_key.setdefault(body["key"], []).append(body["producer"]["sequence"])
    for key, sequences in per_key.items():
        assert sequences == sorted(sequences), f"order broken for {key}: {sequences}"
    return first_seen
