"""mq_producer's web UI components (``mq_producer/ui/``), without a browser: each compiles with
@vue/compiler-sfc and needs nothing but vue; the toolbar item bears the name kytosd generates;
every route a component calls is in the NApps' openapi.yml and every field it reads of an
answer is in that answer's schema; the files are installed with the NApp.

The real-browser test is ``tests/integration/test_ui_panel.py``.
"""

import json
import os
import re
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path

import pytest

from tests.support.ui_host import make_napps_dir, ui_components
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
