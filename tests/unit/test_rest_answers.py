"""REST answers of both NApps over HTTP (Starlette, as core serves them): every answer is
described by the NApp's openapi.yml, hostile requests change nothing, and no answer carries a
stack trace, an exception text, a path or a password.

kytosd 2025.2.1 creates its Starlette app with ``debug=api_traceback_on_500`` (default True):
an exception escaping a route would send the traceback to the client, so routes catch them.
"""

import asyncio
import json
import logging
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kytos.core import KytosEvent
from openapi_schema_validator import OAS30Validator
from starlette.applications import Starlette
from starlette.routing import Route

from listen_events import settings as listen_settings
from listen_events.main import Main as ListenEvents
from mq_producer.main import Main as MqProducer
from tests.support.handoff import handed_envelopes
from tests.support.hostile import BrokenMapping
from tests.support.kytos_controller import FakeController
from tests.support.rabbit_node import free_port
from tests.support.topology import make_link

PASSWORD = "Rest-Secret-71c"
LEAKS = ("Traceback", "File \"", "/work/", ".py", "RuntimeError", "cannot list items",
         PASSWORD)


def _app(*napps: Any) -> Starlette:
    """Routes as core's APIServer registers them: /api/<username>/<name>/<rule>."""
    routes = []
    for napp in napps:
        for name in dir(napp):
            method = getattr(napp, name)
            if hasattr(method, "route_index"):
                rule, options = method.route_index
                routes.append(Route(f"/api/{napp.username}/{napp.name}/{rule}", method,
                                    methods=options["methods"]))
    return Starlette(debug=True, routes=routes)  # debug as kytosd's default


def _resolve(spec: Mapping, schema: Mapping) -> Mapping:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _documented(spec: Mapping, schema: Mapping, value: Any, where: str) -> None:
    """Every key of the answer is described in the schema (recursively)."""
    schema = _resolve(spec, schema)
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            assert key in schema["properties"] or "additionalProperties" in schema, \
                f"{where}.{key} is not described in openapi.yml"
            if key in schema["properties"]:
                _documented(spec, schema["properties"][key], item, f"{where}.{key}")


def check_answer(napp: Any, response: httpx.Response, path: str, method: str) -> Any:
    spec = yaml.safe_load(Path(sys.modules[type(napp).__module__].__file__).with_name(
        "openapi.yml").read_text())
    operation = spec["paths"][path][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} answered undocumented {status}"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    OAS30Validator(_resolve(spec, schema) | {"components": spec.get("components", {})}
                   ).validate(body)
    _documented(spec, schema, body, f"{method} {path} {status}")
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} in {method} {path}: {response.text}"
    return body


def _client(*napps: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(*napps)),
                             base_url="http://kytos")


HOSTILE_REQUESTS = [
    {},
    {"content": b"\xff\xfe\x00garbage", "headers": {"content-type": "text/plain"}},
    {"content": b'{"links": "all", ', "headers": {"content-type": "application/json"}},
    {"json": {"links": ["x"], "__proto__": {"admin": True}}},
    {"content": b"x" * 2_000_000, "headers": {"content-type": "application/octet-stream"}},
    {"params": {"links": "../../etc/passwd", "debug": "1"}},
]


@pytest.mark.parametrize("request_kwargs", HOSTILE_REQUESTS,
                         ids=["empty", "binary", "bad-json", "json", "2MB", "query"])
async def test_snapshot_ignores_whatever_the_request_carries(controller, request_kwargs):
    napp = controller.load_napp(ListenEvents)
    for index in (1, 2, 3):
        link = make_link(index)
        controller.links[link.id] = link
    async with _client(napp) as client:
        response = await client.post("/api/kytos/listen_events/v1/snapshot", **request_kwargs)
        assert response.status_code == 202
        assert check_answer(napp, response, "/v1/snapshot", "POST") == {"links": 3}
        status = await client.get("/api/kytos/listen_events/v1/status")
        assert status.status_code == 200
        counters = check_answer(napp, status, "/v1/status", "GET")["counters"]
        assert counters["failed"] == 0


    def __len__(self):
        return 1

    def items(self):
        raise RuntimeError("cannot list items")


class HostileLink:
    """A link whose as_dict() answers a mapping that cannot be read."""

    id = "hostile"

    def as_dict(self):
        return BrokenMapping()


async def test_snapshot_failure_answers_500_without_internals_and_logs_why(controller, caplog):
    napp = controller.load_napp(ListenEvents)
    controller.links["hostile"] = HostileLink()
    async with _client(napp) as client:
        response = await client.post("/api/kytos/listen_events/v1/snapshot")
    assert response.status_code == 500
    assert check_answer(napp, response, "/v1/snapshot", "POST") == {
        "description": "snapshot failed; the controller's log says why", "code": 500}
    assert napp.pipeline.counters.failed == 1
    logged = [r for r in caplog.records if r.getMessage() == "listen_events: snapshot failed"]
    assert logged and "cannot list items" in logging.Formatter().formatException(
        logged[0].exc_info)


async def test_disabled_napps_answer_503_as_documented(controller, monkeypatch):
    monkeypatch.setattr(listen_settings, "CONTENT_RULES", [{"path": "a..b", "equals": 1}])
    monkeypatch.setenv("KYTOS_MQ_URL", f"amqp://kytos:{PASSWORD}@broker:0/")
    listen = controller.load_napp(ListenEvents)
    producer = controller.load_napp(MqProducer)
    async with _client(listen, producer) as client:
        for napp, method, path in ((listen, "GET", "/v1/status"),
                                   (listen, "POST", "/v1/snapshot"),
                                   (producer, "GET", "/v1/status")):
            response = await client.request(method, f"/api/kytos/{napp.name}{path}")
            assert response.status_code == 503
            body = check_answer(napp, response, path, method)
            assert body["description"].startswith("invalid setting: ")


async def test_mq_producer_status_is_documented_and_hides_the_password(controller, monkeypatch):
    """The broker does not answer (a closed port): the status says so, without the password."""
    port = free_port()
    monkeypatch.setenv("KYTOS_MQ_URL", f"amqp://kytos:{PASSWORD}@127.0.0.1:{port}/")
    producer = controller.load_napp(MqProducer)
    async with _client(producer) as client:
        for _ in range(200):
            response = await client.get("/api/kytos/mq_producer/v1/status")
            if response.json()["last_error"]:
                break
            await asyncio.sleep(0.02)
    body = check_answer(producer, response, "/v1/status", "GET")
    assert body["connected"] is False
    assert body["broker"] == f"amqp://kytos:***@127.0.0.1:{port}/%2F"
    assert body["last_error"].startswith(f"cannot connect to amqp://kytos:***@127.0.0.1:{port}/")
    assert body["outage"]["reason"] == body["last_error"]
    assert body["intake"] == {"hand_off_events": 0, "waiting": 0}
    assert PASSWORD not in json.dumps(body)


async def test_listen_events_status_names_what_its_envelopes_and_listener_carry(controller):
    """v1/status: ``instance`` is the envelopes' producer.instance, ``subscription`` the regex
    its listener was given, ``handoff_event`` the name its hand-off events carry."""
    napp = controller.load_napp(ListenEvents)
    link = make_link(1)
    await controller.buffers.app.aput(KytosEvent("kytos/topology.link_down",
                                                 {"link": link, "reason": "test"}))
    await controller.settle()
    [handoff] = [event for event in controller.seen if event.name != "kytos/topology.link_down"]
    [envelope] = handed_envelopes(handoff.content)
    async with _client(napp) as client:
        status = check_answer(napp, await client.get("/api/kytos/listen_events/v1/status"),
                              "/v1/status", "GET")
    assert status["instance"] == envelope["producer"]["instance"]
    assert status["handoff_event"] == handoff.name == listen_settings.HANDOFF_EVENT
    assert [status["subscription"]] == ListenEvents.on_event.events
    assert re.match(status["subscription"] + "$", "kytos/topology.link_down")
    assert not re.match(status["subscription"] + "$", handoff.name)  # never its own
    # Nobody listens to the hand-off event: it is sent all the same (core drops it).
    assert (status["hand_off_path"], status["direct_to"]) == ("event", [])


async def test_listen_events_status_says_whom_it_hands_over_to_directly(controller, monkeypatch):
    """With mq_producer loaded (its broker a closed port: nothing is published here), the
    next batch goes to its take_hand_off; once it is unloaded, in a hand-off event again;
    with DIRECT_HAND_OFF False, always in the event."""
    monkeypatch.setenv("KYTOS_MQ_URL", f"amqp://kytos:{PASSWORD}@127.0.0.1:{free_port()}/")
    listen = controller.load_napp(ListenEvents)
    controller.load_napp(MqProducer)

    async def path() -> tuple[str, list[str]]:
        async with _client(listen) as client:
            status = check_answer(listen, await client.get(
                "/api/kytos/listen_events/v1/status"), "/v1/status", "GET")
        return status["hand_off_path"], status["direct_to"]

    assert await path() == ("direct", ["kytos/mq_producer"])
    listen._events_sent = True  # hand-off events sent before: direct once core's buffer is empty
    assert await path() == ("switching", ["kytos/mq_producer"])
    controller.unload_napp(("kytos", "mq_producer"))
    assert await path() == ("event", [])
    monkeypatch.setattr(listen_settings, "DIRECT_HAND_OFF", False)
    other = FakeController()
    listen = other.load_napp(ListenEvents)
    other.load_napp(MqProducer)
    try:
        assert await path() == ("event", [])
    finally:
        await other.stop()
        await other.napps[("kytos", "mq_producer")].publisher.transport.close()
