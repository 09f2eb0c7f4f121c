"""mq_producer's web UI panel in a real browser: Debian's chromium driven by Selenium through
Debian's chromium-driver (both named explicitly; nothing is downloaded).

The page is the stand-in web UI of ``tests/support/ui_host.py``: vue and vue3-sfc-loader from
node_modules/, the NApps' ``ui/`` files listed and served as kytosd does, and the REST routes
of both NApps, running in the test double controller, over HTTP. The producer publishes to a
real broker: the shared one for the normal states, a private node (stopped and started again)
for the outage. Everything is read by the components' ``data-test`` hooks; one screenshot of
each state goes to ``test-artifacts/ui/`` (and to ``docs/images/`` with UPDATE_DOC_IMAGES=1).

The test skips when chromium or chromedriver is missing, unless CI is set: then it fails.
"""

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import aio_pika
import pytest
from kytos.core import KytosEvent
from selenium import webdriver

from tests.integration.conftest import TEST_EXCHANGES
from tests.support.napp_stack import Stack
from tests.support.rabbit_node import RabbitNode, rabbitmq_available
from tests.support.topology import make_link
from tests.support.ui_host import UiHost, make_napps_dir
from tests.support.ui_host_browser import TOOLBAR, Page, chromium

POLL = 2.0  # seconds between two polls of the components (POLL_MS)
SHOWN_COUNTERS = ("received", "confirmed", "dropped", "refused")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    yield from chromium(tmp_path_factory)


def without_credentials(text: str | None) -> str:
    return re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s/@]*@", r"\1", text or "")


def api_requests(host: UiHost) -> dict[str, int]:
    return {path: count for path, count in host.counts.items() if path.startswith("/api/")}


async def push_link_events(stack: Stack, links: list, count: int) -> None:
    for index in range(count):
        name = "kytos/topology.link_down" if index % 2 else "kytos/topology.link_up"
        await stack.controller.buffers.app.aput(
            KytosEvent(name, {"link": links[index % len(links)], "reason": "ui test"}))


async def _delete(url: str, queues: set[str], exchanges: list[str]) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    for name in sorted(queues):
        await channel.queue_delete(name)
    for name in exchanges:
        await channel.exchange_delete(name)
    await connection.close()


def wait_status(host: UiHost, condition: Callable[[dict], bool], what: str,
                timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = host.status()
        if condition(status):
            return status
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {status}"
        time.sleep(0.05)


def idle(status: dict) -> bool:
    return (status["buffer"]["queued"] + status["buffer"]["in_flight"] == 0
            and status["intake"] == {"hand_off_events": 0, "waiting": 0})


@pytest.mark.broker
def test_the_panel_follows_the_producer_on_the_shared_broker(
        driver, producer_settings, exchange_prefix, broker_url, tmp_path, monkeypatch):
    queue = f"{exchange_prefix}.ui_all"
    monkeypatch.setattr(producer_settings, "QUEUES", [
        {"queue": queue, "exchange": f"{exchange_prefix}.operational_events",
         "binding": "#"}])
    host = UiHost(make_napps_dir(tmp_path / "napps")).start()
    declared: set[str] = set()
    try:
        declared = set(wait_status(host, lambda status: status["connected"],
                                   "the producer to connect")["queues"])
        page = Page(driver, host, "shared")
        page.open()

        # Mounted at page load, hidden: the toolbar item (another one is active) and the
        # info panel component (no content): neither asks anything.
        assert not page.hook("mqp-toolbar").is_displayed()
        assert not page.hook("mqs-panel").is_displayed()
        time.sleep(1.5 * POLL)
        assert api_requests(host) == {}

        page.menu(TOOLBAR)
        page.wait(lambda: page.text("mqp-state") == "CONNECTED", "the state badge")

        def matches_the_route() -> bool:
            _, status = page.api("kytos/mq_producer/v1/status")
            buffer = status["buffer"]
            return (all(page.count(name) == str(status["counters"][name])
                        for name in SHOWN_COUNTERS)
                    and page.text("mqp-buffer") == f"{buffer['queued']} queued + "
                    f"{buffer['in_flight']} in flight of {buffer['capacity']}"
                    and page.text("mqp-broker") == without_credentials(status["broker"]))

        page.wait(matches_the_route, "the toolbar to show v1/status", 2 * POLL + 2)
        assert page.text("mqp-broker") == "amqp://127.0.0.1:5672/%2F"
        assert page.text("mqp-last-alarm") == "none"
        assert page.hooks("mqp-lanes") == []  # no link status waiting: not said

        # Events sent: "confirmed" rises within two polls of the route saying so.
        links = [make_link(1), make_link(2), make_link(3)]
        for link in links:
            host.stack.controller.links[link.id] = link
        host.call(lambda stack: push_link_events(stack, links, 20))
        status = wait_status(host, lambda status: status["counters"]["received"] == 20
                             and idle(status), "20 envelopes published")
        confirmed = str(status["counters"]["confirmed"])
        assert confirmed == "20"
        started = time.monotonic()
        rates: list[str] = []

        def confirmed_shown() -> bool:
            if page.count("confirmed") != confirmed:
                return False
            rates.append(page.hook("mqp-rate", page.hook("mqp-counter-confirmed")).text)
            return True

        page.wait(confirmed_shown, f"confirmed {confirmed} on screen", 2 * POLL + 1)
        assert time.monotonic() - started <= 2 * POLL + 0.5
        assert re.fullmatch(r"\d+\.\d/s", rates[0]) and rates[0] != "0.0/s", rates
        page.wait(matches_the_route, "every counter to equal v1/status")
        page.shot("toolbar")

        # Request snapshot, behind a confirmation.
        assert page.notifications() == []
        page.click("mqp-snapshot")
        page.wait(lambda: page.hook("mqp-snapshot-question").is_displayed(), "the modal")
        page.shot("snapshot-confirm")
        page.click("mqp-snapshot-confirm")
        page.wait(lambda: page.text("mqp-snapshot-result") == "snapshot: 3 links handed on",
                  "the snapshot's answer")
        wait_status(host, lambda status: status["counters"]["received"] == 23 and idle(status),
                    "the snapshot published")
        declared |= set(host.status()["queues"])

        # Details: every counter, exchanges, queues (the broker's own numbers), listen_events,
        # recent messages.
        page.click("mqp-details")
        page.wait(lambda: page.hook("info-panel").is_displayed(), "the info panel")
        page.wait(lambda: page.text("mqs-state") == "CONNECTED", "the panel's state")

        async def in_queue() -> int:
            connection = await aio_pika.connect(broker_url)
            channel = await connection.channel()
            declared_queue = await channel.declare_queue(queue, passive=True)
            await connection.close()
            return declared_queue.declaration_result.message_count

        ready = asyncio.run(in_queue())
        assert ready == 23  # 20 link events and 3 snapshot messages, all operational

        def panel_matches() -> bool:
            _, status = page.api("kytos/mq_producer/v1/status")
            _, exchanges = page.api("kytos/mq_producer/v1/exchanges")
            _, listen = page.api("kytos/listen_events/v1/status")
            _, recent = page.api("kytos/mq_producer/v1/recent")
            rows = {row.get_attribute("data-name"): row for row in page.hooks("mqs-exchange")}
            queues = {row.get_attribute("data-name"): row for row in page.hooks("mqs-queue")}
            shown_recent = page.hooks("mqs-recent")
            return (all(page.value(f"mqs-counter-{name}") == str(count)
                        for name, count in status["counters"].items())
                    and set(rows) == set(exchanges["exchanges"])
                    and all(page.hook("mqs-exchange-confirmed", row).text
                            == str(exchanges["exchanges"][name]["confirmed"])
                            for name, row in rows.items())
                    and set(queues) == set(status["queues"])
                    and page.hook("mqs-queue-messages", queues[queue]).text == str(ready)
                    and page.hook("mqs-queue-consumers", queues[queue]).text == "0"
                    and page.value("mqs-listen-backlog") == str(listen["backlog"])
                    and page.value("mqs-listen-hand-off") == listen["hand_off_path"] == "direct"
                    and page.value("mqs-listen-handed_on") == str(listen["counters"][
                        "handed_on"])
                    and len(shown_recent) == min(25, len(recent["messages"]))
                    and shown_recent[0].get_attribute("data-outcome")
                    == recent["messages"][0]["outcome"])

        page.wait(panel_matches, "the info panel to show the routes' answers", 5 * POLL)
        events = {page.hook("mqs-recent-event", row).text for row in page.hooks("mqs-recent")}
        assert "kytos/listen_events.link_snapshot" in events
        for problem in ("mqs-exchanges-problem", "mqs-queues-problem", "mqs-recent-problem",
                        "mqs-listen-problem"):
            assert page.hooks(problem) == []  # every route answered as documented
        assert {row.get_attribute("data-outcome") for row in page.hooks("mqs-recent")} \
            == {"confirmed"}
        assert page.text("mqs-last-error") == "none"
        page.wait(matches_the_route, "the toolbar to show v1/status too", 2 * POLL + 2)
        page.shot("details")
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'})",
                              page.hook("mqs-queues-note"))
        driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame("
                                    "arguments[arguments.length - 1]))")  # painted
        page.shot("details-queues")

        # Closed (unmounted) and hidden: no more requests.
        page.hook("info-panel-close").click()
        page.menu("k-host-home")
        page.wait(lambda: not page.hook("mqp-toolbar").is_displayed(), "the toolbar hidden")
        time.sleep(0.5)
        before = api_requests(host)
        time.sleep(2 * POLL + 0.5)
        assert api_requests(host) == before

        read = page.check_field_reads()
        assert {("GET", f"/api/kytos/mq_producer/v1/{route}")
                for route in ("status", "exchanges", "queues", "recent")} \
            | {("GET", "/api/kytos/listen_events/v1/status"),
               ("POST", "/api/kytos/listen_events/v1/snapshot")} <= read
        assert page.notifications() == []  # connected all along: no transition
        source = driver.page_source
        assert "guest" not in source and "***" not in source  # no credentials at all
        assert page.console_problems() == []
    finally:
        if host.stack is not None and host.stack.producer.publisher is not None:
            declared |= set(host.stack.producer.publisher.transport.queues)
        host.stop()
        asyncio.run(_delete(broker_url, {name for name in declared
                                         if name.startswith(exchange_prefix)},
                            [f"{exchange_prefix}.{kind}"
                             for kind in (*TEST_EXCHANGES, "dead")]))


USER = "kytos_ui"
PASSWORD = "Ui-Secret-5c1f"


@pytest.mark.private_broker
@pytest.mark.skipif(not rabbitmq_available(), reason="RabbitMQ server binaries not "
                    "installed (scripts/setup installs them)")
def test_the_panel_shows_an_outage_and_the_recovery(driver, tmp_path, monkeypatch):
    from mq_producer import settings

    node = RabbitNode(tmp_path / "rabbit")
    host: UiHost | None = None
    try:
        node.start()
        node.rabbitmqctl("add_user", USER, PASSWORD)
        node.rabbitmqctl("set_permissions", "-p", "/", USER, ".*", ".*", ".*")
        monkeypatch.setenv("KYTOS_MQ_URL", f"amqp://{USER}:{PASSWORD}@127.0.0.1:{node.port}/")
        monkeypatch.setattr(settings, "NAPP_QUEUES", {"enabled": False})
        monkeypatch.setattr(settings, "VERBOSE_QUEUE", {"enabled": False})
        monkeypatch.setattr(settings, "ROUTES", [{"exchange": "ui_events",
                                                  "routing_key": "{event_class}.{event_name}"}])
        monkeypatch.setattr(settings, "QUEUES", [{"queue": "ui_all", "exchange": "ui_events",
                                                  "binding": "#"}])
        monkeypatch.setattr(settings, "RETRY_INTERVAL", 0.3)
        monkeypatch.setattr(settings, "PUBLISH_TIMEOUT", 2.0)
        monkeypatch.setattr(settings, "HEARTBEAT", 1)
        host = UiHost(make_napps_dir(tmp_path / "napps")).start()
        wait_status(host, lambda status: status["connected"], "the producer to connect")
        page = Page(driver, host, "outage")
        page.open()
        page.menu(TOOLBAR)
        page.wait(lambda: page.text("mqp-state") == "CONNECTED", "connected")

        # The broker's memory alarm blocks publishing: no outage, the panel says why.
        links = [make_link(1), make_link(2)]
        node.rabbitmqctl("set_vm_memory_high_watermark", "0.0000001")
        try:
            host.call(lambda stack: push_link_events(stack, links, 1))
            page.wait(lambda: page.text("mqp-state") == "BLOCKED", "blocked on screen")
            assert page.text("mqp-outage-reason") == "low on memory"
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
                                page.text("mqp-outage-since"))
            page.shot("blocked")
        finally:
            node.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
        page.wait(lambda: page.text("mqp-state") == "CONNECTED", "connected once unblocked")
        wait_status(host, lambda status: status["counters"]["confirmed"] == 1,
                    "the blocked message confirmed")

        node.stop_app()
        page.wait(lambda: page.text("mqp-state") == "OUTAGE", "the outage on screen")
        host.call(lambda stack: push_link_events(stack, links, 5))
        page.wait(lambda: page.text("mqp-buffer").startswith("5 queued"), "5 messages waiting")
        _, status = page.api("kytos/mq_producer/v1/status")
        assert status["last_alarm"].startswith("broker unreachable: ")
        assert page.text("mqp-last-alarm") == without_credentials(status["last_alarm"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
                            page.text("mqp-outage-since"))
        assert re.fullmatch(r"(\d+m )?\d+s", page.text("mqp-outage-for"))
        assert page.text("mqp-outage-reason")
        page.shot("outage")

        page.click("mqp-details")
        page.wait(lambda: page.text("mqs-state") == "OUTAGE", "the panel's state")
        page.wait(lambda: page.text("mqs-last-error") != "none"
                  and page.hook("mqs-queues-note").text.startswith("cannot connect to"),
                  "the last error and why the queues are unknown")
        # the last error changes at each attempt: it names the broker, without credentials
        assert f"amqp://127.0.0.1:{node.port}/%2F" in page.text("mqs-last-error")
        page.shot("details-outage")
        for text in (PASSWORD, USER, "***"):  # no credentials, masked or not
            assert text not in driver.page_source
        page.hook("info-panel-close").click()

        time.sleep(2 * POLL)  # polls go on: notifications only at transitions
        blocked_then_outage = ["Event broadcast: blocked", "Event broadcast: connected",
                               "Event broadcast: outage"]
        assert [item["title"] for item in page.notifications()] == blocked_then_outage
        assert page.notifications()[0]["description"] == "low on memory"

        node.start_app()
        page.wait(lambda: page.text("mqp-state") == "CONNECTED", "connected again", 30)
        status = wait_status(host, lambda status: status["counters"]["received"] == 6
                             and idle(status), "the buffered messages delivered")
        page.wait(lambda: page.count("confirmed") == str(status["counters"]["confirmed"])
                  and page.text("mqp-buffer").startswith("0 queued"), "them confirmed")
        assert page.text("mqp-last-alarm") == without_credentials(status["last_alarm"])
        assert [item["title"] for item in page.notifications()] == [
            *blocked_then_outage, "Event broadcast: connected"]
        page.shot("reconnected")
        for text in (PASSWORD, USER, "***"):
            assert text not in driver.page_source
        page.check_field_reads()
        assert page.console_problems() == []
    finally:
        if host is not None:
            host.stop()
        node.stop()


def test_the_panel_of_a_disabled_producer_says_why(driver, tmp_path, monkeypatch):
    from mq_producer import settings

    monkeypatch.setattr(settings, "BUFFER_SIZE", 1)  # less than MAX_IN_FLIGHT: refused
    host = UiHost(make_napps_dir(tmp_path / "napps")).start()
    try:
        page = Page(driver, host, "disabled")
        page.open()
        page.menu(TOOLBAR)
        page.wait(lambda: page.text("mqp-state") == "DISABLED", "the disabled state")
        code, answer = page.api("kytos/mq_producer/v1/status")
        assert code == 503
        assert page.text("mqp-disabled-reason") == answer["description"] \
            == "invalid setting: BUFFER_SIZE: must be at least MAX_IN_FLIGHT (256), got 1"
        page.click("mqp-details")
        page.wait(lambda: page.text("mqs-state") == "DISABLED", "the panel's state")
        assert page.text("mqs-disabled-reason") == answer["description"]
        page.wait(lambda: page.value("mqs-listen-handed_on") == "0",
                  "listen_events' counters")
        page.shot("disabled")
        page.check_field_reads()
        assert page.notifications() == []

        def expected(entry: dict[str, Any]) -> bool:
            """The browser logs every 503 answer it gets, as an error of the network."""
            return entry["level"] == "SEVERE" and entry.get("source") == "network" \
                and "/api/kytos/mq_producer/" in entry["message"] \
                and "status of 503" in entry["message"]

        assert page.console_problems(expected) == []
    finally:
        host.stop()
