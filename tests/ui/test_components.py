"""mq_producer's web UI components (``mq_producer/ui/``): each compiles with @vue/compiler-sfc and
needs nothing but vue; the toolbar item bears the name kytosd generates; every route a component
calls is in the NApps' openapi.yml and every field it reads of an answer is in that answer's
schema; the files are installed with the NApp.

Then, in a real browser, the components in front of written answers (``ScriptedUiHost``): what
the real routes do not answer on demand (no answer, a proxy's HTML page, a 500 of one route,
odd fields). The browser test against the real NApps is ``tests/integration/test_ui_panel.py``.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.support.ui_host import ScriptedUiHost, make_napps_dir, ui_components
from tests.support.ui_host_browser import TOOLBAR as TOOLBAR_NAME
from tests.support.ui_host_browser import Page, chromium
from tests.support.ui_schema import answer_schema, field_problem, operation, split_route

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "mq_producer" / "ui"
FILES = sorted(UI.glob("*/*.kytos"))
COMPILER = ROOT / "tests" / "support" / "compile_sfc.cjs"
TOOLBAR = UI / "k-toolbar" / "main.kytos"
INFO_PANEL = UI / "k-info-panel" / "status.kytos"
# The global components of the web UI that NApps use (kytos-ng/ui registers them).
UI_COMPONENTS = {"k-toolbar-item", "k-accordion", "k-accordion-item", "k-button",
                 "k-property-panel", "k-property-panel-item", "k-modal", "k-select", "k-input"}

# How the components name the answers they read (the data property or local variable holding
# an answer, and the aliases of its items): name -> (route, method, status, where in the
# answer). A field read is the name followed by a dotted path: ``status.counters``,
# ``this.status.outage.since``, ``q.messages``.
ANSWERS = {
    "status": ("kytos/mq_producer/v1/status", "GET", 200, ""),
    "exchanges": ("kytos/mq_producer/v1/exchanges", "GET", 200, ""),
    "ex": ("kytos/mq_producer/v1/exchanges", "GET", 200, "exchanges.*"),
    "queues": ("kytos/mq_producer/v1/queues", "GET", 200, ""),
    "q": ("kytos/mq_producer/v1/queues", "GET", 200, "queues[]"),
    "recent": ("kytos/mq_producer/v1/recent", "GET", 200, ""),
    "m": ("kytos/mq_producer/v1/recent", "GET", 200, "messages[]"),
    "held": ("kytos/mq_producer/v1/status", "GET", 200, "refused_exchanges.*"),
    "listen": ("kytos/listen_events/v1/status", "GET", 200, ""),
    "snapshot": ("kytos/listen_events/v1/snapshot", "POST", 202, ""),
}
FIELD_READ = re.compile(r"(?<![\w$.])(?:this\.)?(?P<name>" + "|".join(ANSWERS)
                        + r")(?P<path>(?:\??\.[A-Za-z_$][\w$]*)+)(?P<call>\s*\()?")
CALL = re.compile(r"\$http\.(?P<method>get|post|put|patch|delete)\(\s*"
                  r"(?:this\.\$kytos_server_api|api)\s*\+\s*\"(?P<route>kytos/[^\"]+)\"")
ROUTE_TEXT = re.compile(r"[\"'`](?P<route>kytos/[\w-]+/v\d+/[^\"'`]*)[\"'`]")


def _blocks(path: Path) -> tuple[str, str]:
    """The template and the script of an SFC."""
    text = path.read_text(encoding="utf-8")
    template = re.search(r"<template>(.*)</template>", text, re.S)
    script = re.search(r"<script>(.*?)</script>", text, re.S)
    assert template and script, f"{path.name}: no template or no script"
    return template[1], script[1]


def _tool_missing(what: str) -> None:
    """scripts/setup installs node and node_modules/: without them, fail in CI, else skip."""
    message = f"{what} (scripts/setup installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set: the UI tests must run, but {message}")
    pytest.skip(message)


@cache
def _compiled() -> dict[str, dict]:
    node = shutil.which("node")
    if node is None:
        _tool_missing("node is not installed")
    if not (ROOT / "node_modules" / "@vue" / "compiler-sfc").is_dir():
        _tool_missing("node_modules/@vue/compiler-sfc is missing (npm ci)")
    result = subprocess.run([node, str(COMPILER), *map(str, FILES)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{COMPILER.name} failed:\n{result.stderr}"
    return {Path(name).name: report for name, report in json.loads(result.stdout).items()}


def test_the_panel_has_its_two_components():
    assert [path.relative_to(UI).as_posix() for path in FILES] == [
        "k-info-panel/status.kytos", "k-toolbar/main.kytos"]


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.relative_to(UI).as_posix())
def test_compiles_with_vue_compiler_sfc_and_needs_only_vue(path):
    report = _compiled()[path.name]
    assert report["errors"] == [], report["errors"]
    assert report["warnings"] == [], report["warnings"]
    assert {"data", "methods", "mounted", "unmounted"} <= set(report["exports"])
    assert {item["tag"] for item in report["components"]} <= UI_COMPONENTS


def test_the_compile_check_sees_errors(tmp_path):
    """The compiler script reports what it is there to catch (the checks above are not
    vacuous): a bad template expression, a module other than vue, a style language."""
    bad = tmp_path / "bad.kytos"
    bad.write_text('<template><div>{{ a. }}</div></template>\n<script>\nconst x = '
                   'require("lodash");\nmodule.exports = {};\n</script>\n<style lang="sass">'
                   "\na\n  color: red\n</style>\n")
    _compiled()  # skips or fails as above when node is missing
    result = subprocess.run(["node", str(COMPILER), str(bad)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    errors = json.loads(result.stdout)[str(bad)]["errors"]
    assert any(error.startswith("template: ") for error in errors)
    assert any('requires "lodash"' in error for error in errors)
    assert any("lang=sass" in error for error in errors)


def test_the_component_names_are_the_ones_kytosd_generates(tmp_path):
    napps = make_napps_dir(tmp_path / "napps")
    toolbar = ui_components(napps, "k-toolbar")
    info_panel = ui_components(napps, "k-info-panel")
    assert toolbar == [{"name": "kytos-mq_producer-k-toolbar-main",
                        "url": "ui/kytos/mq_producer/k-toolbar/main.kytos"}]
    assert info_panel == [{"name": "kytos-mq_producer-k-info-panel-status",
                           "url": "ui/kytos/mq_producer/k-info-panel/status.kytos"}]
    # the web UI throws unless the toolbar item's name is the generated one
    items = [item for item in _compiled()["main.kytos"]["components"]
             if item["tag"] == "k-toolbar-item"]
    assert [item["attrs"].get("name") for item in items] == [toolbar[0]["name"]]
    # the Details button opens the info panel component by its generated name
    _, script = _blocks(TOOLBAR)
    assert re.findall(r'component:\s*"([^"]+)"', script) == [info_panel[0]["name"]]


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.relative_to(UI).as_posix())
def test_every_route_called_is_in_the_openapi_spec(path):
    _, script = _blocks(path)
    calls = {(match["method"].upper(), match["route"]) for match in CALL.finditer(script)}
    assert calls, "no route found: the check would be vacuous"
    # every route named anywhere in the script is one of these calls
    assert {match["route"] for match in ROUTE_TEXT.finditer(script)} \
        == {route for _, route in calls}
    for method, route in sorted(calls):
        napp, spec_path = split_route(route)
        assert operation(napp, spec_path, method) is not None, \
            f"{path.name} calls {method} {route}, not in {napp}/openapi.yml"


def _reads(path: Path) -> set[tuple[str, str]]:
    """(answer name, dotted field) of every field the component reads."""
    template, script = _blocks(path)
    reads = set()
    for match in FIELD_READ.finditer(template + "\n" + script):
        parts = match["path"].replace("?.", ".").split(".")[1:]
        if match["call"]:  # a method of the value (slice, toFixed...), not a field
            parts = parts[:-1]
        if parts:
            reads.add((match["name"], ".".join(parts)))
    return reads


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.relative_to(UI).as_posix())
def test_every_field_read_is_in_the_answer_schema(path):
    reads = _reads(path)
    assert len(reads) >= 10, f"only {sorted(reads)}: the check would be vacuous"
    problems = []
    for name, field in sorted(reads):
        route, method, status, where = ANSWERS[name]
        napp, spec_path = split_route(route)
        schema = answer_schema(napp, spec_path, method, status)
        assert schema is not None, f"{method} {route} {status} is not documented"
        full = f"{where}.{field}" if where else field
        problem = field_problem(napp, schema, full)
        if problem:
            problems.append(f"{name}.{field} ({method} {route} {status}): {problem}")
    assert problems == []


def test_the_field_check_sees_unknown_fields():
    schema = answer_schema("mq_producer", "/v1/status", "GET", 200)
    assert field_problem("mq_producer", schema, "counters.confirmed") is None
    assert field_problem("mq_producer", schema, "exchanges.anything") is None
    assert field_problem("mq_producer", schema, "counters.conffirmed") is not None
    assert field_problem("mq_producer", schema, "password") is not None
    recent = answer_schema("mq_producer", "/v1/recent", "GET", 200)
    assert field_problem("mq_producer", recent, "messages[].outcome") is None
    assert field_problem("mq_producer", recent, "messages[].body") is not None
    assert ("q", "messages") in _reads(INFO_PANEL)
    assert ("status", "outage.since") in _reads(TOOLBAR)
    assert ("snapshot", "links") in _reads(TOOLBAR)


def test_the_ui_files_are_installed_with_the_napp():
    """pyproject.toml's package data of mq_producer takes every .kytos file."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["mq_producer"]
    package = ROOT / "mq_producer"
    installed = {path for pattern in patterns for path in package.glob(pattern)}
    assert set(FILES) <= installed


def test_no_component_shows_a_credential_or_a_payload():
    """Texts from the routes go through withoutCredentials(); nothing named like a password
    or a message's body is read of anything."""
    for path in FILES:
        template, script = _blocks(path)
        assert "function withoutCredentials(" in script
        assert not re.search(r"(\.|\[[\"'])(password|body|payload|envelopes?)\b",
                             template + script, re.I), path.name



# -- in a real browser, in front of written answers -------------------------------------------

POLL = 2.0  # seconds between two polls (POLL_MS)
REQUEST_TIMEOUT = 8.0  # seconds (REQUEST_TIMEOUT_MS)
STATUS = "kytos/mq_producer/v1/status"
EXCHANGES = "kytos/mq_producer/v1/exchanges"
QUEUES = "kytos/mq_producer/v1/queues"
RECENT = "kytos/mq_producer/v1/recent"
LISTEN = "kytos/listen_events/v1/status"
UNEXPECTED = "unexpected answer from the Kytos API"
NOW = 1_750_000_000.0


def answers() -> dict[str, dict[str, Any]]:
    """A connected producer with one exchange, one queue and one message, as the routes answer
    (shapes of openapi.yml)."""
    counters = dict.fromkeys(("received", "rejected", "published", "confirmed", "returned",
                              "failed", "refused", "suppressed", "superseded", "replaced",
                              "refreshed", "copied", "dropped", "discarded"), 0)
    counters.update(received=10, published=10, confirmed=10)
    outcomes = dict.fromkeys(("confirmed", "returned", "refused", "suppressed", "superseded",
                              "dropped", "rejected", "failed"), 0)
    return {
        STATUS: {"status": 200, "body": {
            "connected": True, "broker": "amqp://127.0.0.1:5672/%2F",
            "exchanges": {"kytos.events": "ok"}, "queues": {"kytos.q": "ok"},
            "buffer": {"queued": 0, "in_flight": 0, "capacity": 10000},
            "status_lanes": {"links": 0, "pending": 0, "in_flight": 0},
            "after_shutdown": 0, "intake": {"hand_off_events": 0, "waiting": 0},
            "counters": counters, "last_error": None, "outage": None, "blocked": None,
            "refused_exchanges": {}, "last_alarm": None}},
        EXCHANGES: {"status": 200, "body": {"exchanges": {
            "kytos.events": {"state": "ok", **outcomes, "confirmed": 10, "last_at": NOW}}}},
        QUEUES: {"status": 200, "body": {
            "inspected": True, "reason": None, "checked_at": NOW, "cache_seconds": 5.0,
            "queues": [{"name": "kytos.q", "state": "ok", "messages": 3, "consumers": 1,
                        "error": None, "counts": None}]}},
        RECENT: {"status": 200, "body": {"capacity": 100, "messages": [
            {"message_id": "0123456789abcdef0123456789abcdef",
             "event_name": "kytos/topology.link_up", "exchange": "kytos.events",
             "routing_key": "kytos.topology.link_up", "outcome": "confirmed", "time": NOW}]}},
        LISTEN: {"status": 200, "body": {
            "backlog": 0, "hand_off_path": "direct", "direct_to": ["kytos/mq_producer"],
            "counters": dict.fromkeys(
                ("received", "classified", "not_action", "filtered_out", "handed_on",
                 "serialization_warnings", "failed", "hand_on_failed"), 0)}},
        "kytos/listen_events/v1/snapshot": {"status": 202, "body": {"links": 3}},
    }


def status_with(**fields: Any) -> dict[str, Any]:
    answer = copy.deepcopy(answers()[STATUS])
    for name, value in fields.items():
        if value is ...:
            del answer["body"][name]
        else:
            answer["body"][name] = value
    return answer


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    yield from chromium(tmp_path_factory)


@pytest.fixture
def scripted(driver, tmp_path) -> Iterator[tuple[ScriptedUiHost, Page]]:
    host = ScriptedUiHost(make_napps_dir(tmp_path / "napps"), answers()).start()
    try:
        yield host, Page(driver, host, "scripted")
    finally:
        host.stop()


def network_error(entry: dict[str, Any]) -> bool:
    """The browser logs every answer of status 4xx/5xx as an error of the network."""
    return entry["level"] == "SEVERE" and entry.get("source") == "network"


def open_both(page: Page) -> None:
    """The toolbar item shown and the info panel open on it."""
    page.open()
    page.menu(TOOLBAR_NAME)
    page.wait(lambda: page.text("mqp-state") not in ("", "LOADING"), "the toolbar's state")
    page.click("mqp-details")
    page.wait(lambda: page.text("mqs-state") not in ("", "LOADING"), "the panel's state")


def states(page: Page) -> tuple[str, str]:
    return page.text("mqp-state"), page.text("mqs-state")


def test_an_answer_that_never_comes_is_said_after_the_timeout(scripted):
    """No answer at all froze the polling, CONNECTED on screen for good."""
    host, page = scripted
    open_both(page)
    assert states(page) == ("CONNECTED", "CONNECTED")
    host.answers[STATUS] = {"hang": True}
    page.wait(lambda: states(page) == ("UNREACHABLE", "UNREACHABLE"), "the timeout said",
              REQUEST_TIMEOUT + 2 * POLL + 2)
    said = "the Kytos API did not answer in 8 s"
    assert page.text("mqp-unreachable") == page.text("mqs-unreachable") == said
    assert [item["description"] for item in page.notifications()
            if item["title"] == "Event broadcast: unreachable"] == [said]
    host.answers[STATUS] = answers()[STATUS]
    page.wait(lambda: states(page) == ("CONNECTED", "CONNECTED"), "both again", 2 * POLL + 2)
    assert page.console_problems() == []


def test_hiding_and_closing_abort_the_requests_in_flight(scripted):
    """A poll left pending kept the next ones waiting behind it (the browser queues a GET of the
    same URL): a reopened panel stayed LOADING. Our own abort changes nothing on screen."""
    host, page = scripted
    open_both(page)
    hung_queues = host.requests("/api/" + QUEUES)
    host.answers[QUEUES] = {"hang": True}
    page.wait(lambda: host.requests("/api/" + QUEUES) > hung_queues, "v1/queues asked", 5)
    page.hook("info-panel-close").click()  # the panel unmounted
    page.wait(lambda: host.abandoned["/api/" + QUEUES] == 1, "the panel's request aborted", 3)

    hung_status = host.requests("/api/" + STATUS)
    host.answers[STATUS] = {"hang": True}
    page.wait(lambda: host.requests("/api/" + STATUS) > hung_status, "v1/status asked", 5)
    time.sleep(0.3)
    page.menu("k-host-home")  # the toolbar item hidden
    page.wait(lambda: host.abandoned["/api/" + STATUS] == 1, "the toolbar's request aborted", 3)
    assert page.content("mqp-state") == "connected"  # as it was: nothing said of the abort
    assert page.hooks("mqp-unreachable") == []
    assert page.notifications() == []

    host.answers.update({STATUS: answers()[STATUS], QUEUES: answers()[QUEUES]})
    page.menu(TOOLBAR_NAME)
    page.click("mqp-details")
    page.wait(lambda: page.text("mqs-state") == "CONNECTED" and page.hooks("mqs-queue"),
              "the reopened panel answered", POLL + 2)
    time.sleep(REQUEST_TIMEOUT - 4)  # past when the aborted requests would have timed out
    assert states(page) == ("CONNECTED", "CONNECTED")
    assert page.notifications() == []
    assert page.console_problems() == []


def test_link_statuses_waiting_are_shown_and_counted_as_buffered(scripted):
    """status_lanes (interdomain link statuses, apart from the buffer) were shown nowhere."""
    host, page = scripted
    lanes = {"links": 5, "pending": 4, "in_flight": 1}
    host.answers[STATUS] = status_with(
        connected=False, buffer={"queued": 2, "in_flight": 0, "capacity": 10000},
        status_lanes=lanes, outage={"since": NOW, "duration": 30, "reason": "no broker"})
    open_both(page)
    assert states(page) == ("OUTAGE", "OUTAGE")
    assert page.text("mqp-buffer") == "2 queued + 0 in flight of 10000"
    assert page.text("mqp-lanes") == "+ 4 link statuses pending, 1 in flight"
    buffer = page.browser.find_element(
        By.XPATH, "//*[@data-test='mqs-panel']//tr[th='buffer']/td").text
    assert buffer == "2 queued + 0 in flight of 10000 + 4 link statuses pending, 1 in flight"

    host.answers[STATUS] = status_with(
        buffer={"queued": 2, "in_flight": 0, "capacity": 10000}, status_lanes=lanes)
    page.wait(lambda: page.text("mqp-state") == "CONNECTED", "connected")
    assert page.notifications()[-1]["description"] \
        == "publishing to amqp://127.0.0.1:5672/%2F; 7 messages buffered"

    host.answers[STATUS] = answers()[STATUS]  # none waiting: not said
    page.wait(lambda: not page.hooks("mqp-lanes"), "no lanes line", 2 * POLL + 1)
    assert page.console_problems() == []


def test_exchanges_the_broker_refuses_are_a_state_of_their_own(scripted):
    """Connected, while the broker refuses some exchanges (no permission; missing, of another
    type): their messages wait while the others go. Both components showed CONNECTED."""
    host, page = scripted
    reason = ("does not exist and user 'kytos' may not create it (no 'configure' "
              "permission): a broker administrator must declare it as a durable topic exchange")
    host.answers[STATUS] = status_with(
        exchanges={"kytos.events": "ok", "interdomain_links": "missing",
                   "interdomain_link.queues": "refuses publishing"},
        refused_exchanges={
            "interdomain_links": {"since": NOW, "reason": reason, "duration": 64.2,
                                  "waiting": 0},
            "interdomain_link.queues": {
                "since": NOW, "duration": 5, "waiting": 3,
                "reason": "ACCESS_REFUSED - access to exchange 'interdomain_link.queues' in "
                          "vhost '/' refused for user 'kytos' (amqp://kytos:s3cret@mq:5672/)"}})
    open_both(page)
    assert states(page) == ("REFUSING", "REFUSING")
    lines = ["interdomain_link.queues: ACCESS_REFUSED - access to exchange "
             "'interdomain_link.queues' in vhost '/' refused for user 'kytos' (amqp://mq:5672/)"
             "; 3 waiting, for 5s",
             f"interdomain_links: {reason}; 0 waiting, for 1m 04s"]
    assert [hook.text for hook in page.hooks("mqp-refused")] == lines
    assert [hook.text for hook in page.hooks("mqs-refused")] == lines
    page.shot("refusing")
    host.answers[STATUS] = answers()[STATUS]
    page.wait(lambda: states(page) == ("CONNECTED", "CONNECTED"), "connected again",
              2 * POLL + 2)
    assert page.hooks("mqp-refused") == page.hooks("mqs-refused") == []
    host.answers[STATUS] = status_with(refused_exchanges={"x": {
        "since": NOW, "reason": "missing", "duration": 1, "waiting": 1}})
    page.wait(lambda: states(page) == ("REFUSING", "REFUSING"), "refusing again", 2 * POLL + 2)
    assert [item["description"] for item in page.notifications()
            if item["title"] == "Event broadcast: refusing"] == ["x: missing; 1 waiting, for 1s"]
    assert page.console_problems() == []


def test_a_failed_route_keeps_the_rest_of_the_panel(scripted):
    """v1/queues answers 500 when the inspection fails: the whole panel went UNREACHABLE and
    blank. v1/status decides the state; each other section says why it has nothing."""
    host, page = scripted
    host.answers[QUEUES] = {"status": 500, "body": {
        "description": "inspecting the queues failed; the controller's log says why",
        "code": 500}}
    del host.answers[RECENT]  # 404
    host.answers[EXCHANGES] = {"status": 200, "raw": "<html><body>a proxy</body></html>"}
    open_both(page)
    assert states(page) == ("CONNECTED", "CONNECTED")
    assert page.value("mqs-counter-confirmed") == "10"
    assert page.value("mqs-listen-backlog") == "0"
    assert page.value("mqs-listen-hand-off") == "direct"
    assert page.hook("mqs-listen-hand-off").get_attribute("title") == (
        "handed directly to kytos/mq_producer")
    switching = copy.deepcopy(host.answers[LISTEN])
    switching["body"]["hand_off_path"] = "switching"
    host.answers[LISTEN] = switching
    page.wait(lambda: page.value("mqs-listen-hand-off") == "switching", "switching shown",
              2 * POLL + 1)
    assert page.hook("mqs-listen-hand-off").get_attribute("title") == (
        "in hand-off events until Kytos' app buffer is empty, then directly to "
        "kytos/mq_producer")
    assert page.text("mqs-queues-problem") == ("the Kytos API answered 500: inspecting the "
                                              "queues failed; the controller's log says why")
    assert page.text("mqs-recent-problem") == (
        "the Kytos API answered 404: mq_producer's routes are not there (re-enabled through "
        "Kytos' API? restart kytosd)")
    assert page.text("mqs-exchanges-problem") == UNEXPECTED
    assert page.hooks("mqs-queue") == page.hooks("mqs-recent") == page.hooks("mqs-exchange") \
        == []

    host.answers.update(answers())
    page.wait(lambda: page.hooks("mqs-queue") and page.hooks("mqs-recent")
              and page.hooks("mqs-exchange"), "every section again", 2 * POLL + 1)
    for problem in ("mqs-queues-problem", "mqs-recent-problem", "mqs-exchanges-problem"):
        assert page.hooks(problem) == []
    assert page.notifications() == []
    assert page.console_problems(network_error) == []


def test_a_slow_route_holds_neither_the_state_nor_the_other_sections(scripted):
    """v1/queues inspects the broker, up to 12 s when it stalls - the outage the state must
    show: the panel waited for all five answers, and its state and every section stood still
    until that one gave up (REQUEST_TIMEOUT). Each route is polled on its own, one request
    at a time, and each answer shown as it comes."""
    host, page = scripted
    open_both(page)
    asked = host.requests("/api/" + QUEUES)
    host.answers[QUEUES] = {"hang": True}
    page.wait(lambda: host.requests("/api/" + QUEUES) > asked, "v1/queues asked", POLL + 2)
    hung_at = time.monotonic()
    host.answers[STATUS] = status_with(
        connected=False, outage={"since": NOW, "duration": 3, "reason": "no broker"})
    exchanges = copy.deepcopy(answers()[EXCHANGES])
    exchanges["body"]["exchanges"]["kytos.events"]["confirmed"] = 12
    host.answers[EXCHANGES] = exchanges
    page.wait(lambda: page.text("mqs-state") == "OUTAGE"
              and page.text("mqs-exchange-confirmed") == "12",
              "the state and the exchanges while v1/queues hangs", 2 * POLL + 1)
    assert time.monotonic() - hung_at < REQUEST_TIMEOUT - 1  # before the hung one gave up
    assert host.requests("/api/" + QUEUES) == asked + 1  # not asked again meanwhile
    assert page.hooks("mqs-queue") and page.hooks("mqs-queues-problem") == []  # as it was
    page.wait(lambda: page.hooks("mqs-queues-problem"), "v1/queues' silence said",
              REQUEST_TIMEOUT + POLL)
    assert page.text("mqs-queues-problem") == "the Kytos API did not answer in 8 s"
    assert page.hooks("mqs-queue") == []
    host.answers[QUEUES] = answers()[QUEUES]
    page.wait(lambda: page.hooks("mqs-queue") and page.hooks("mqs-queues-problem") == [],
              "v1/queues answering again", 2 * POLL + 1)
    assert page.text("mqs-state") == "OUTAGE"
    assert page.console_problems() == []

ODD_STATUS = {
    "a proxy's HTML page": {"status": 200, "raw": "<!DOCTYPE html><html>login</html>"},
    "an empty object": {"status": 200, "body": {}},
    "null": {"status": 200, "body": None},
    "a list": {"status": 200, "body": []},
    "counters null": status_with(counters=None),
    "no buffer": status_with(buffer=...),
    "intake null": status_with(intake=None),
}


@pytest.mark.parametrize("answer", ODD_STATUS.values(), ids=ODD_STATUS.keys())
def test_an_odd_status_answer_is_unexpected_not_a_crash(scripted, answer):
    """A 200 answer without the shape read threw in render or in refresh and left the
    components in a wrong state."""
    host, page = scripted
    host.answers[STATUS] = answer
    open_both(page)
    assert states(page) == ("UNREACHABLE", "UNREACHABLE")
    assert page.text("mqp-unreachable") == page.text("mqs-unreachable") == UNEXPECTED
    host.answers[STATUS] = answers()[STATUS]
    page.wait(lambda: states(page) == ("CONNECTED", "CONNECTED"), "both again", 2 * POLL + 1)
    assert page.console_problems() == []


ODD_SECTIONS = {
    "exchanges null": (EXCHANGES, {"exchanges": None}, "mqs-exchanges-problem"),
    "no list of queues": (QUEUES, {"inspected": False, "reason": None, "checked_at": None,
                                   "cache_seconds": 5}, "mqs-queues-problem"),
    "recent null": (RECENT, None, "mqs-recent-problem"),
    "listen_events empty": (LISTEN, {}, "mqs-listen-problem"),
}


@pytest.mark.parametrize("odd", ODD_SECTIONS.values(), ids=ODD_SECTIONS.keys())
def test_an_odd_answer_of_a_section_is_said_in_it(scripted, odd):
    host, page = scripted
    route, body, hook = odd
    host.answers[route] = {"status": 200, "body": body}
    open_both(page)
    assert states(page) == ("CONNECTED", "CONNECTED")
    page.wait(lambda: page.text(hook) == UNEXPECTED, "the section's note")
    assert page.value("mqs-counter-confirmed") == "10"
    assert page.console_problems() == []


def test_null_and_out_of_range_fields_do_not_break_render(scripted):
    """message_id null threw at .slice(); a time out of Date's range threw a RangeError."""
    host, page = scripted
    host.answers[STATUS] = status_with(
        connected=False, outage={"since": 1e20, "duration": 1e20, "reason": None},
        last_error=None, status_lanes=None)
    host.answers[RECENT] = {"status": 200, "body": {"capacity": None, "messages": [
        {"message_id": None, "event_name": None, "exchange": None, "routing_key": None,
         "outcome": None, "time": 1e20}, None]}}
    host.answers[QUEUES] = {"status": 200, "body": {
        "inspected": True, "reason": None, "checked_at": -1e20, "cache_seconds": None,
        "queues": [None, {"name": "kytos.q", "state": None, "messages": None,
                          "consumers": None, "error": None, "counts": None}]}}
    host.answers[EXCHANGES] = {"status": 200, "body": {"exchanges": {"kytos.events": None}}}
    open_both(page)
    assert states(page) == ("OUTAGE", "OUTAGE")
    assert page.text("mqp-outage-since") == ""
    assert len(page.hooks("mqs-recent")) == 1
    assert len(page.hooks("mqs-queue")) == 1
    assert [row.get_attribute("data-name") for row in page.hooks("mqs-exchange")] \
        == ["kytos.events"]
    time.sleep(POLL + 0.5)  # a few polls more, each rendered
    assert page.console_problems() == []


def test_the_first_rate_shown_again_is_not_over_the_time_hidden(scripted):
    """The counts before hiding were kept: the first poll shown again divided all that came
    while hidden by the time since the last poll before."""
    host, page = scripted
    page.open()
    page.menu(TOOLBAR_NAME)
    confirmed = lambda: page.hook("mqp-rate", page.hook("mqp-counter-confirmed")).text  # noqa: E731
    page.wait(lambda: confirmed() == "0.0/s", "a rate", 2 * POLL + 2)
    page.menu("k-host-home")
    burst = status_with()
    burst["body"]["counters"].update(received=3010, confirmed=3010)
    host.answers[STATUS] = burst
    time.sleep(1)
    page.menu(TOOLBAR_NAME)
    page.wait(lambda: page.count("confirmed") == "3010", "the new count")
    seen = set()
    deadline = time.monotonic() + POLL + 1
    while time.monotonic() < deadline:
        seen.add(confirmed())
        time.sleep(0.1)
    assert seen <= {"", "0.0/s"}  # nothing came while shown


def test_a_404_says_the_routes_are_not_there(scripted):
    """Core answers 404 for a NApp re-enabled through its API until kytosd restarts."""
    host, page = scripted
    del host.answers[STATUS]
    open_both(page)
    assert states(page) == ("UNREACHABLE", "UNREACHABLE")
    said = ("the Kytos API answered 404: mq_producer's routes are not there (re-enabled "
            "through Kytos' API? restart kytosd)")
    assert page.text("mqp-unreachable") == page.text("mqs-unreachable") == said
    assert page.console_problems(network_error) == []
