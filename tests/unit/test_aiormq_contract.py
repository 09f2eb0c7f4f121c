"""The aiormq internals mq_producer relies on, pinned against the installed aiormq: an upgrade
that moves them fails here, not in production (where the transport falls back and warns)."""

import inspect

import aiormq

from mq_producer.transports.amqp.transport import BLOCKED_HANDLERS


def test_the_reader_hands_connection_blocked_and_unblocked_to_the_handlers_we_wrap():
    """AmqpTransport._watch_blocked wraps these two on each connection: they must exist, and
    the connection's reader must call them by attribute (so the instance's wrapper is used)."""
    for name in BLOCKED_HANDLERS:
        assert callable(getattr(aiormq.Connection, name, None)), name
    reader = inspect.getsource(aiormq.Connection)
    assert "await self.__handle_connection_blocked(frame)" in reader
    assert "await self.__handle_connection_unblocked(frame)" in reader


def test_the_fast_path_finds_what_it_needs_in_the_installed_aiormq():
    """AmqpTransport._fast_path_usable checks these on each channel; here, their presence in
    the installed aiormq's classes and constructors (a missing one means the public path)."""
    from aiormq.abc import ChannelFrame

    from mq_producer.transports.amqp import transport

    assert transport.ChannelFrame is ChannelFrame
    frame = ChannelFrame(payload=b"x", should_close=False)
    assert (frame.payload, frame.should_close, frame.should_drain) == (b"x", False, False)
    source = inspect.getsource(aiormq.Channel.__init__)
    for attribute in ("self.confirmations", "self.message_id_delivery_tag",
                      "self.delivery_tag", "self.write_queue"):
        assert attribute in source, attribute
    assert isinstance(aiormq.Channel.closing, property)  # public: aiormq.abc.AbstractBase


def test_the_writer_writes_each_frame_in_the_step_that_takes_it_from_the_queue():
    """AmqpTransport.publish_now writes to the socket itself when the write queue is empty:
    sound only while aiormq's writer awaits nothing between taking a frame from the queue and
    writing it (an empty queue then means every frame queued before is on the socket)."""
    from aiormq.connection import FrameGenerator

    anext_source = inspect.getsource(FrameGenerator.__anext__)
    assert "frame: ChannelFrame = await self.queue.get()" in anext_source
    assert anext_source.count("await") == 1
    writer = inspect.getsource(aiormq.Connection._Connection__writer)
    loop = writer[writer.index("async for channel_frame in frame_iterator:"):]
    assert loop.index("writer.write(channel_frame.payload)") < loop.index("await")


def test_a_channel_without_an_internal_the_fast_path_needs_turns_it_off_with_a_warning(caplog):
    """Each internal is checked: a channel lacking any one of them means basic_publish, and
    the WARNING names what is missing (once per transport)."""
    import asyncio
    from types import SimpleNamespace

    from mq_producer import settings
    from mq_producer.config import load_config
    from mq_producer.transports.amqp.transport import AmqpTransport

    config = load_config(settings, {"KYTOS_MQ_URL": "amqp://u:p@localhost/"})
    loop = asyncio.new_event_loop()
    try:
        def channel(**missing: None) -> SimpleNamespace:
            parts = {"confirmations": {}, "message_id_delivery_tag": {}, "delivery_tag": 0,
                     "write_queue": asyncio.Queue(), "closing": loop.create_future(),
                     "connection": SimpleNamespace(
                         connection_tune=SimpleNamespace(frame_max=131072))}
            return SimpleNamespace(**{k: v for k, v in parts.items() if k not in missing})

        assert AmqpTransport(config)._fast_path_usable(channel()) is True
        for name in ("confirmations", "message_id_delivery_tag", "delivery_tag",
                     "write_queue", "closing", "connection"):
            transport = AmqpTransport(config)
            caplog.clear()
            assert transport._fast_path_usable(channel(**{name: None})) is False
            assert transport._fast_path_usable(channel(**{name: None})) is False
            warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
            assert len(warnings) == 1 and "basic_publish" in warnings[0], (name, warnings)
    finally:
        loop.close()


def test_the_reader_calls_the_confirm_frame_handler_by_attribute():
    """transport._settle_multiple_acks_at_once puts its handler on the channel instance: the
    reader must look it up on self for each Basic.Ack / Basic.Nack, and aiormq's own must do
    what ours does at once - _confirm_delivery(tag, frame) for every waiting tag up to the
    frame's, later, by a loop callback each - and go straight to it for a single one."""
    reader = inspect.getsource(aiormq.Channel._reader)
    assert "case spec.Basic.Ack() | spec.Basic.Nack():" in reader
    assert "await self._on_confirm_frame(frame)" in reader
    own = inspect.getsource(aiormq.Channel._on_confirm_frame)
    assert "for delivery_tag in self.confirmations.keys():" in own
    assert "if frame.delivery_tag >= delivery_tag:" in own
    assert "self._confirm_delivery, delivery_tag, frame," in own
    assert "self._confirm_delivery(frame.delivery_tag, frame)" in own
    assert list(inspect.signature(aiormq.Channel._confirm_delivery).parameters) == [
        "self", "delivery_tag", "frame"]


def test_multiple_acks_are_settled_in_tag_order_and_other_frames_go_to_aiormq():
    """The handler on a stand-in channel: a multiple ack confirms every waiting tag up to its
    own, in order, at once; a single ack, or a multiple one whose tag is not waiting, goes to
    the channel's own handler; a channel without the internals keeps its own."""
    import asyncio
    from types import SimpleNamespace

    from pamqp.commands import Basic

    from mq_producer.transports.amqp.transport import _settle_multiple_acks_at_once

    calls: list[tuple[str, int, bool]] = []

    async def own(frame):
        calls.append(("own", frame.delivery_tag, frame.multiple))

    def confirm(tag, frame):
        calls.append(("confirm", tag, frame.multiple))
        del channel.confirmations[tag]

    channel = SimpleNamespace(_on_confirm_frame=own, _confirm_delivery=confirm,
                              confirmations=dict.fromkeys(range(1, 9)))
    _settle_multiple_acks_at_once(channel)
    assert channel._on_confirm_frame is not own

    async def frames() -> None:
        await channel._on_confirm_frame(Basic.Ack(delivery_tag=5, multiple=True))
        await channel._on_confirm_frame(Basic.Ack(delivery_tag=6, multiple=False))
        await channel._on_confirm_frame(Basic.Nack(delivery_tag=3, multiple=True))
        await channel._on_confirm_frame(Basic.Nack(delivery_tag=8, multiple=True))

    asyncio.run(frames())
    assert calls == [("confirm", tag, True) for tag in range(1, 6)] + [
        ("own", 6, False), ("own", 3, True), ("confirm", 6, True), ("confirm", 7, True),
        ("confirm", 8, True)]

    bare = SimpleNamespace(_on_confirm_frame=own, confirmations={})
    _settle_multiple_acks_at_once(bare)
    assert bare._on_confirm_frame is own
