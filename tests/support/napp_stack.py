"""Both NApps loaded in one stand-in controller, as fault and security tests need them."""

import json
from dataclasses import dataclass

from listen_events.main import Main as ListenEvents
from mq_producer.main import Main as MqProducer
from tests.support.kytos_controller import FakeController


@dataclass
class Stack:
    controller: FakeController
    listen: ListenEvents
    producer: MqProducer

    @classmethod
    def start(cls) -> "Stack":
        """Load listen_events then mq_producer (which reads its environment now)."""
        controller = FakeController()
        return cls(controller, controller.load_napp(ListenEvents),
                   controller.load_napp(MqProducer))

    async def status(self) -> dict:
        """mq_producer's status answer."""
        return json.loads((await self.producer.status(None)).body)

    async def stop(self) -> None:
        """Shut down as kytosd does, then close what its stopped loop would have dropped."""
        await self.controller.stop()
        if self.producer.publisher is not None:
            await self.producer.publisher.transport.close()
