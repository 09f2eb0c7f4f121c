"""Fixtures shared by the unit tests."""

from collections.abc import AsyncIterator

import pytest

from tests.support.kytos_controller import FakeController


@pytest.fixture
async def controller() -> AsyncIterator[FakeController]:
    """The stand-in controller; stopped after the test, and the connection of any
    mq_producer loaded into it closed."""
    fake = FakeController()
    yield fake
    await fake.stop()
    for napp in fake.napps.values():
        if getattr(napp, "publisher", None) is not None:
            await napp.publisher.transport.close()
