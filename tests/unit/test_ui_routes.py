"""The web UI panel's routes and what stands behind them: the ring of recent outcomes and the
counts per exchange (mq_producer/recent.py), the cached queue inspection
(mq_producer/queue_view.py), and the answers of v1/exchanges, v1/queues and v1/recent over
HTTP, as described in openapi.yml and without a password.
"""

import asyncio
import json

from mq_producer import settings
from mq_producer.config import load_config
from mq_producer.main import Main as MqProducer
from mq_producer.outbox import OutboundMessage
from mq_producer.queue_view import MAX_INSPECTED, QueueView
from mq_producer.recent import OutcomeLog
from mq_producer.transports.base import TransportError
from mq_producer.transports.factory import make_transport
from tests.support.rabbit_node import free_port
from tests.unit.test_rest_answers import PASSWORD, _client, check_answer

CONFIG = load_config(settings, {"KYTOS_MQ_URL": "amqp://u:p@localhost/"})


def message(number: int, exchange: str = "operational_events", link_id: str | None = None
            ) -> OutboundMessage:
    return OutboundMessage(f"id-{number}", "kytos/topology.link_up", exchange,
                           f"operational.{number}", b'{"secret": "body"}', None, 0.0,
                           link_id=link_id, status="UP" if link_id else None)


def test_the_ring_keeps_the_latest_outcomes_newest_first_and_no_body():
    clock = iter(range(1000)).__next__
    outcomes = OutcomeLog(CONFIG, capacity=3, clock=lambda: float(clock()))
    for number in range(5):
        outcomes.record(message(number), "confirmed")
    outcomes.count(message(9), "failed")  # counted, not kept
    recent = outcomes.recent()
    assert [item["message_id"] for item in recent] == ["id-4", "id-3", "id-2"]
    assert recent[0] == {"message_id": "id-4", "event_name": "kytos/topology.link_up",
                         "exchange": "operational_events", "routing_key": "operational.4",
                         "outcome": "confirmed", "time": 4.0}
    assert "secret" not in json.dumps(recent)


def test_outcomes_are_counted_per_exchange_and_per_link_status_queue():
    outcomes = OutcomeLog(CONFIG)
    outcomes.record(message(1), "confirmed")
    outcomes.record(message(2), "returned")
    outcomes.count(message(3), "failed")
    outcomes.record(message(4, "interdomain_links", link_id="abc"), "refused")
    outcomes.record(message(5, "interdomain_links", link_id="abc"), "confirmed")
    exchanges = outcomes.exchanges({"operational_events": "ok", "admin_events": "ok",
                                    "interdomain_links": "checking"})
    assert list(exchanges) == ["admin_events", "operational_events", "other_events",
                               "interdomain_links"]  # ROUTES, then LINK_STATUS
    assert exchanges["operational_events"] | {"last_at": None} == {
        "state": "ok", "confirmed": 1, "returned": 1, "refused": 0, "suppressed": 0,
        "superseded": 0, "dropped": 0, "rejected": 0, "failed": 1, "last_at": None}
    assert exchanges["admin_events"]["confirmed"] == 0
    assert exchanges["admin_events"]["last_at"] is None
    assert exchanges["other_events"]["state"] is None  # not checked yet
    assert exchanges["interdomain_links"]["confirmed"] == 1
    outcomes.record(message(6, "elsewhere"), "dropped")  # from settings since changed
    assert outcomes.exchanges({})["elsewhere"]["dropped"] == 1
    assert outcomes.queue_counts("interdomain_link.abc") == {"confirmed": 1, "refused": 1,
                                                             "suppressed": 0, "superseded": 0}
    assert outcomes.queue_counts("interdomain_link.other") == {"confirmed": 0, "refused": 0,
                                                               "suppressed": 0, "superseded": 0}
    assert outcomes.queue_counts("kytos_events.dead") is None


def test_a_link_status_is_counted_and_listed_where_the_amqp_transport_sends_it():
    """Through LINK_STATUS' queues exchange, to its link's queue (AmqpTransport.destination),
    not on LINK_STATUS.exchange, which has its copy only: the counts, the recent messages and
    the broker's bindings agree."""
    transport = make_transport(CONFIG, {"KYTOS_MQ_URL": "amqp://u:p@localhost/"})
    outcomes = OutcomeLog(CONFIG, destination=transport.destination)
    queues_exchange = CONFIG.link_status.queues_exchange
    outcomes.record(message(1, "interdomain_links", link_id="abc"), "refused")
    outcomes.record(message(2, "interdomain_links", link_id="abc"), "confirmed")
    outcomes.record(message(3, "interdomain_links"), "confirmed")  # the status's copy
    outcomes.record(message(4), "confirmed")
    exchanges = outcomes.exchanges({"interdomain_links": "ok", queues_exchange: "ok"})
    assert (exchanges[queues_exchange]["confirmed"], exchanges[queues_exchange]["refused"]) \
        == (1, 1)
    assert (exchanges["interdomain_links"]["confirmed"],
            exchanges["interdomain_links"]["refused"]) == (1, 0)
    assert exchanges["operational_events"]["confirmed"] == 1
    assert [(item["exchange"], item["routing_key"]) for item in outcomes.recent()] == [
        ("operational_events", "operational.4"), ("interdomain_links", "operational.3"),
        (queues_exchange, "abc"), (queues_exchange, "abc")]
    assert outcomes.queue_counts(CONFIG.link_status.queue("abc")) == {
        "confirmed": 1, "refused": 1, "suppressed": 0, "superseded": 0}


class Inspection:
    """A fetch that counts its calls and answers what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.error: TransportError | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, names, within):
        self.calls.append(tuple(names))
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return {name: {"messages": index, "consumers": 1, "error": None}
                for index, name in enumerate(names)}


async def test_the_broker_is_asked_at_most_once_per_cache_period():
    now = [100.0]
    inspection = Inspection()
    view = QueueView(inspection, None, 1.0, cache_seconds=5.0, clock=lambda: now[0])
    states = {"b": "ok", "a": "ok"}
    answer = await view.answer(states, lambda name: None)
    assert answer["inspected"] is True and answer["reason"] is None
    assert [(queue["name"], queue["messages"], queue["consumers"])
            for queue in answer["queues"]] == [("a", 0, 1), ("b", 1, 1)]
    now[0] += 4.9
    await view.answer(states, lambda name: None)
    assert len(inspection.calls) == 1
    now[0] += 0.2
    await view.answer(states, lambda name: None)
    assert len(inspection.calls) == 2
    await view.answer({**states, "c": "ok"}, lambda name: None)  # a queue declared since
    assert inspection.calls[-1] == ("a", "b", "c")


async def test_concurrent_requests_share_one_inspection():
    inspection = Inspection()
    inspection.gate = asyncio.Event()
    view = QueueView(inspection, None, 1.0)
    requests = [asyncio.create_task(view.answer({"a": "ok"}, lambda name: None))
                for _ in range(20)]
    await asyncio.sleep(0.01)
    inspection.gate.set()
    answers = await asyncio.gather(*requests)
    assert len(inspection.calls) == 1
    assert all(answer["queues"][0]["messages"] == 0 for answer in answers)


async def test_an_unreachable_broker_is_said_once_per_cache_period():
    inspection = Inspection()
    inspection.error = TransportError("cannot connect to amqp://u:***@h:1/%2F: refused")
    view = QueueView(inspection, None, 1.0)
    for _ in range(3):
        answer = await view.answer({"a": "ok"}, lambda name: {"confirmed": 2})
    assert len(inspection.calls) == 1
    assert answer["inspected"] is False
    assert answer["reason"] == "cannot connect to amqp://u:***@h:1/%2F: refused"
    assert answer["queues"] == [{"name": "a", "state": "ok", "messages": None,
                                 "consumers": None, "error": None,
                                 "counts": {"confirmed": 2}}]


async def test_without_inspection_or_queues_the_broker_is_not_asked():
    view = QueueView(None, "the jetstream transport declares no queues", 1.0)
    answer = await view.answer({}, lambda name: None)
    assert answer == {"inspected": False, "reason": "the jetstream transport declares no "
                      "queues", "checked_at": None, "cache_seconds": 5.0, "queues": []}
    inspection = Inspection()
    assert (await QueueView(inspection, None, 1.0).answer({}, lambda name: None))[
        "inspected"] is False
    assert inspection.calls == []


async def test_at_most_max_inspected_queues_are_asked_about():
    inspection = Inspection()
    view = QueueView(inspection, None, 1.0)
    states = {f"q{index:04d}": "ok" for index in range(MAX_INSPECTED + 2)}
    answer = await view.answer(states, lambda name: None)
    assert len(inspection.calls[0]) == MAX_INSPECTED
    assert [queue["error"] for queue in answer["queues"][-2:]] == [
        f"not asked (more than {MAX_INSPECTED} queues)"] * 2


async def test_the_panel_routes_are_documented_and_hide_the_password(controller,
                                                                    monkeypatch):
    """The broker does not answer (a closed port): every route still answers, as described,
    and the queues say why they are unknown, without the password."""
    port = free_port()
    monkeypatch.setenv("KYTOS_MQ_URL", f"amqp://kytos:{PASSWORD}@127.0.0.1:{port}/")
    producer = controller.load_napp(MqProducer)
    producer.publisher.outcomes.record(message(1), "dropped")
    async with _client(producer) as client:
        for _ in range(200):
            if (await client.get("/api/kytos/mq_producer/v1/status")).json()["last_error"]:
                break
            await asyncio.sleep(0.02)
        exchanges = check_answer(producer, await client.get(
            "/api/kytos/mq_producer/v1/exchanges"), "/v1/exchanges", "GET")
        queues = check_answer(producer, await client.get("/api/kytos/mq_producer/v1/queues"),
                              "/v1/queues", "GET")
        recent = check_answer(producer, await client.get("/api/kytos/mq_producer/v1/recent"),
                              "/v1/recent", "GET")
    assert set(exchanges["exchanges"]) == {"admin_events", "operational_events",
                                           "other_events", "interdomain_links"}
    assert exchanges["exchanges"]["operational_events"]["dropped"] == 1
    assert exchanges["exchanges"]["admin_events"]["state"] is None  # never reached
    # no queue declared while the broker is unreachable: nothing to ask about
    assert queues == {"inspected": False, "reason": None, "checked_at": None,
                      "cache_seconds": 5.0, "queues": []}
    assert recent["capacity"] == 100
    assert [item["outcome"] for item in recent["messages"]] == ["dropped"]


async def test_the_queue_inspection_failing_says_why_without_the_password(controller,
                                                                         monkeypatch):
    port = free_port()
    monkeypatch.setenv("KYTOS_MQ_URL", f"amqp://kytos:{PASSWORD}@127.0.0.1:{port}/")
    producer = controller.load_napp(MqProducer)
    transport = producer.publisher.transport
    monkeypatch.setattr(type(transport), "queues", property(lambda self: {"q": "ok"}))
    async with _client(producer) as client:
        answer = await client.get("/api/kytos/mq_producer/v1/queues")
    queues = check_answer(producer, answer, "/v1/queues", "GET")
    assert queues["inspected"] is False
    assert queues["reason"].startswith(f"cannot connect to amqp://kytos:***@127.0.0.1:{port}/")
    assert queues["queues"][0]["name"] == "q" and queues["queues"][0]["messages"] is None


async def test_an_unexpected_inspection_failure_answers_500_without_internals(controller,
                                                                            monkeypatch,
                                                                            caplog):
    producer = controller.load_napp(MqProducer)

    async def broken(names, within):
        raise RuntimeError(f"/work/secret {PASSWORD}")

    monkeypatch.setattr(producer, "_queue_inspection", QueueView(broken, None, 1.0),
                        raising=False)
    monkeypatch.setattr(type(producer.publisher.transport), "queues",
                        property(lambda self: {"q": "ok"}))
    async with _client(producer) as client:
        answer = await client.get("/api/kytos/mq_producer/v1/queues")
    assert answer.status_code == 500
    assert check_answer(producer, answer, "/v1/queues", "GET") == {
        "description": "inspecting the queues failed; the controller's log says why",
        "code": 500}
    assert any(record.getMessage() == "mq_producer: inspecting the queues failed"
               for record in caplog.records)


async def test_disabled_the_panel_routes_answer_503(controller, monkeypatch):
    monkeypatch.setattr(settings, "BUFFER_SIZE", 1)
    producer = controller.load_napp(MqProducer)
    async with _client(producer) as client:
        for route in ("exchanges", "queues", "recent"):
            answer = await client.get(f"/api/kytos/mq_producer/v1/{route}")
            assert answer.status_code == 503
            body = check_answer(producer, answer, f"/v1/{route}", "GET")
            assert body["description"].startswith("invalid setting: BUFFER_SIZE")


async def test_the_jetstream_transport_has_no_queues_to_show(controller, monkeypatch):
    monkeypatch.setenv("KYTOS_MQ_TRANSPORT", "jetstream")
    monkeypatch.setenv("KYTOS_NATS_URL", f"nats://127.0.0.1:{free_port()}")
    producer = controller.load_napp(MqProducer)
    async with _client(producer) as client:
        answer = await client.get("/api/kytos/mq_producer/v1/queues")
    queues = check_answer(producer, answer, "/v1/queues", "GET")
    assert queues["inspected"] is False
    assert queues["reason"].startswith("the jetstream transport declares no queues")
