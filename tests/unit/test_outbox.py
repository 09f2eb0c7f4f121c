from mq_producer.outbox import OutboundMessage, Outbox


def _message(message_id, key=None):
    return OutboundMessage(message_id=message_id, event_name="e", exchange="x",
                           routing_key="k", body=b"{}", key=key, timestamp=0.0)


def _ids(messages):
    return [message.message_id for message in messages]


def test_one_message_per_key_in_flight_and_order_per_key():
    outbox = Outbox(10)
    for message_id, key in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("n1", None), ("n2", None)]:
        outbox.put(_message(message_id, key))
    first = outbox.take(10)
    assert _ids(first) == ["a1", "b1", "n1", "n2"]  # a2 waits for a1's confirm
    assert outbox.take(10) == []
    outbox.confirm(first[0])
    assert _ids(outbox.take(10)) == ["a2"]


def test_failed_message_goes_back_before_newer_ones_of_its_key():
    outbox = Outbox(10)
    outbox.put(_message("a1", "a"))
    outbox.put(_message("a2", "a"))
    [a1] = outbox.take(10)
    outbox.retry(a1)
    [again] = outbox.take(10)
    assert again is a1 and a1.attempts == 2
    outbox.confirm(a1)
    assert _ids(outbox.take(10)) == ["a2"]


def test_full_buffer_keeps_newest_per_key_else_drops_oldest():
    outbox = Outbox(3)
    assert outbox.put(_message("a1", "a")) is None
    assert outbox.put(_message("n1")) is None
    assert outbox.put(_message("a2", "a")) is None
    dropped = outbox.put(_message("a3", "a"))  # full: replaces the oldest queued for "a"
    assert dropped is not None and dropped.reason == "superseded"
    assert dropped.message.message_id == "a1"
    dropped = outbox.put(_message("n2"))  # no key: the oldest queued goes
    assert dropped is not None and dropped.reason == "overflow"
    assert dropped.message.message_id == "n1"
    assert outbox.dropped == 2 and len(outbox) == 3
    assert _ids(outbox.take(10)) == ["a2", "n2"]


def test_in_flight_messages_are_never_dropped():
    outbox = Outbox(2)
    outbox.put(_message("a1", "a"))
    outbox.put(_message("b1", "b"))
    in_flight = outbox.take(10)
    assert outbox.put(_message("c1", "c")) is None  # over capacity by one, nothing lost
    assert len(outbox) == 3
    for message in in_flight:
        outbox.confirm(message)
    assert _ids(outbox.take(10)) == ["c1"]


def test_discard_all_forgets_everything_and_late_confirms_are_ignored():
    outbox = Outbox(10)
    outbox.put(_message("a1", "a"))
    outbox.put(_message("a2", "a"))
    [a1] = outbox.take(10)
    assert outbox.discard_all() == 2
    outbox.confirm(a1)
    outbox.retry(a1)
    assert len(outbox) == 0 and outbox.take(10) == []


def test_an_answer_for_another_message_of_the_lane_leaves_the_one_in_flight():
    outbox = Outbox(10)
    first, second = _message("m1", key="link:1"), _message("m2", key="link:1")
    outbox.put(first)
    outbox.put(second)
    assert outbox.take(10) == [first]
    outbox.confirm(second)  # not in flight: ignored
    outbox.retry(second)  # likewise
    assert outbox.is_in_flight(first) and outbox.oldest_in_flight() is first
    assert outbox.in_flight_messages() == [first] and outbox.queued == 1
    outbox.confirm(first)
    assert _ids(outbox.take(10)) == ["m2"]


def test_two_messages_with_one_id_are_never_in_flight_together():
    """A return names its message by id only: twins in flight could swap outcomes."""
    outbox = Outbox(10)
    outbox.put(_message("same", "a"))
    outbox.put(_message("same", "b"))
    outbox.put(_message("other", "c"))
    first = outbox.take(10)
    assert _ids(first) == ["same", "other"] and first[0].key == "a"
    assert outbox.take(10) == []  # b's head waits for a's answer
    outbox.confirm(first[0])
    [twin] = outbox.take(10)
    assert (twin.message_id, twin.key) == ("same", "b")


def test_a_held_twin_goes_when_the_first_is_put_back_and_waits_again_behind_it():
    outbox = Outbox(10)
    outbox.put(_message("same", "a"))
    outbox.put(_message("same", "b"))
    [a] = outbox.take(10)
    assert outbox.take(10) == []
    outbox.retry(a, ready=False)  # refused: a waits for release(), b may go now
    [b] = outbox.take(10)
    assert b.key == "b"
    outbox.release("a")
    assert outbox.take(10) == []  # a's id is in flight again, with b
    outbox.confirm(b)
    assert [m.key for m in outbox.take(10)] == ["a"]
    assert len(outbox) == 1 and outbox.in_flight == 1
