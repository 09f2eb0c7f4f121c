"""NApp lifecycle without a broker: bad settings disable a NApp, they never abort Kytos."""

import json
import logging
import threading

from kytos.core import KytosEvent

from listen_events import settings as listen_settings
from listen_events.main import Main as ListenEvents
from mq_producer.main import Main as MqProducer
from tests.support.handoff import decoded
from tests.support.kytos_controller import FakeController


async def test_listen_events_with_a_bad_setting_is_disabled_and_says_why(monkeypatch, caplog):
    monkeypatch.setattr(listen_settings, "DENY_EVENTS", ["(unclosed"])
    controller = FakeController()
    napp = controller.load_napp(ListenEvents)  # does not raise: Kytos keeps running
    await controller.buffers.app.aput(KytosEvent("kytos/topology.link_up", {}))
    await controller.settle()
    assert [event.name for event in controller.seen] == ["kytos/topology.link_up"]
    response = await napp.status(None)
    assert response.status_code == 503
    assert "DENY_EVENTS[0]: invalid regex" in json.loads(response.body)["description"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("listen_events DISABLED" in line and "DENY_EVENTS[0]" in line
               for line in errors)
    await controller.stop()


async def test_listen_events_start_line_is_short_and_the_subscription_is_at_debug(caplog):
    """The subscription is one regex of every pattern: 967 characters of it in the INFO line
    at start, in a real kytosd, were what an operator read."""
    caplog.set_level(logging.DEBUG, logger="kytos.napps")  # core's log, which main.py uses
    controller = FakeController()
    controller.load_napp(ListenEvents)
    [start] = [r for r in caplog.records if r.getMessage().startswith("listen_events: instance")]
    assert start.levelno == logging.INFO and len(start.getMessage()) < 250, start.getMessage()
    assert "profile topology" in start.getMessage()
    [regex] = [r for r in caplog.records if r.getMessage().startswith(
        "listen_events: subscribed to ")]
    assert regex.levelno == logging.DEBUG and len(regex.getMessage()) > 500
    await controller.stop()


async def test_mq_producer_with_a_bad_url_is_disabled_and_hides_the_password(
        monkeypatch, caplog):
    monkeypatch.setenv("KYTOS_MQ_URL", "http://user:hunter2@broker/")
    controller = FakeController()
    napp = controller.load_napp(MqProducer)
    response = await napp.status(None)
    assert response.status_code == 503
    assert "KYTOS_MQ_URL: expected amqp" in json.loads(response.body)["description"]
    assert "hunter2" not in response.body.decode()
    assert all("hunter2" not in record.getMessage() for record in caplog.records)
    await controller.stop()


async def test_listen_events_hands_on_envelopes_as_documented():
    controller = FakeController()
    controller.load_napp(ListenEvents)
    await controller.buffers.app.aput(
        KytosEvent("kytos/topology.switch.disabled", {"dpid": "00:00:00:00:00:00:00:0a"}))
    await controller.settle()
    handoff = controller.seen[-1]
    assert handoff.name == "kytos/listen_events.broadcast"
    [handed] = handoff.content["envelopes"]
    assert type(handed) is bytes  # JSON, encoded once (hand_off_form)
    assert decoded(handed)["event_class"] == "administrative"
    await controller.stop()


async def test_the_napps_replace_nothing_of_threading_thread():
    """Core's KytosNApp is a threading.Thread (so is the stand-in's): a NApp's attribute named
    like one of Thread's own replaces it, and Python calls it - Thread._stop, from is_alive()
    and join() once the thread has ended: a NApp method named _stop ran its shutdown work again
    at each call (a real kytosd 2025.2.1, 2026-12-06)."""
    thread_names = set(dir(threading.Thread))
    controller = FakeController()
    for main in (ListenEvents, MqProducer):
        napp = controller.load_napp(main)
        ours = {name for klass in main.__mro__ if klass.__module__.partition(".")[0]
                in ("listen_events", "mq_producer") for name in vars(klass)}
        ours |= set(vars(napp)) - set(vars(threading.Thread()))  # what setup() set
        assert ours & thread_names == {"__doc__", "__init__", "__module__"} & ours, main
        assert {"setup", "shutdown", "_stop_on_loop"} <= ours  # the check sees our names
    await controller.stop()
