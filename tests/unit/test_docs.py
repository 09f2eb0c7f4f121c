"""The README and the pages of docs/: linked, well-formed, addressed to a reader, and naming
only paths, commands and options that exist.

Every repository path written as literal text or in a literal block (``scripts/...``,
``mq_producer/...``, ...) must exist, every ``scripts/`` command must be executable, and every
``mq-consumer`` or ``benchmarks/bench.py`` option must be one that command accepts.
"""

import ast
import io
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from docutils import nodes
from docutils.core import publish_doctree

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.rst"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.rst"))
ALL = [README, *PAGES]

PATH_ROOTS = ("scripts", "benchmarks", "docs", "demo", "listen_events", "mq_producer",
              "mq_consumer", "tests")
# A repository path: one of the roots, a slash, then path characters; not part of a longer
# path or word (``$PWD/listen_events``, ``kytos/mq_producer`` and ``/api/...`` are not ours).
_ROOTS = "|".join(PATH_ROOTS)
REPO_PATH = re.compile(rf"(?<![\w./$-])(?:{_ROOTS})/[\w./-]*")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# ``mq-consumer --opt ...`` and ``benchmarks/bench.py --opt ...``: the options up to the end
# of the line or a shell comment.
MQ_CONSUMER_LINE = re.compile(r"(?<![\w.-])mq-consumer\b([^#\n]*)")
BENCH_LINE = re.compile(r"benchmarks/bench\.py\b([^#\n]*)")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _doctree(path: Path) -> tuple[nodes.document, str]:
    """The page's doctree and everything docutils reported at INFO level 2 (WARNING) or above."""
    stream = io.StringIO()
    doctree = publish_doctree(
        path.read_text(encoding="utf-8"), source_path=str(path),
        settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": stream,
                            "file_insertion_enabled": False, "raw_enabled": False})
    return doctree, stream.getvalue()


def _literal_texts(doctree: nodes.document) -> list[str]:
    """The text of every inline literal and literal block (code) of a page."""
    return [node.astext() for node in doctree.findall(
        lambda node: isinstance(node, nodes.literal | nodes.literal_block))]


def _repo_paths(texts: list[str]) -> set[str]:
    return {match.rstrip(".,:;") for text in texts for match in REPO_PATH.findall(text)}


@cache
def _mq_consumer_options() -> frozenset[str]:
    """The option strings of ``mq-consumer``, from its ``--help``."""
    result = subprocess.run([sys.executable, "-m", "mq_consumer.cli", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, f"mq-consumer --help failed:\n{result.stderr}"
    options = result.stdout.partition("options:")[2]
    assert options, f"no options section in mq-consumer --help:\n{result.stdout}"
    return frozenset(OPTION.findall(options))


@cache
def _bench_options() -> frozenset[str]:
    """The option strings ``benchmarks/bench.py`` gives argparse (read, not run)."""
    tree = ast.parse((ROOT / "benchmarks" / "bench.py").read_text(encoding="utf-8"))
    return frozenset(
        arg.value for call in ast.walk(tree)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
        and call.func.attr == "add_argument"
        for arg in call.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str))


def test_there_are_pages() -> None:
    assert {page.name for page in PAGES} >= {"operating.rst", "consuming.rst", "design.rst",
                                             "benchmarks.rst"}


def test_the_readme_links_every_page_of_docs() -> None:
    doctree, _ = _doctree(README)
    targets = {node["refuri"] for node in doctree.findall(nodes.reference)
               if "refuri" in node}
    missing = [_name(page) for page in PAGES if _name(page) not in targets]
    assert not missing, f"README.rst does not link {missing}"


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_parses_without_a_docutils_warning(path: Path) -> None:
    _, reports = _doctree(path)
    assert reports == "", f"{_name(path)}:\n{reports}"


@pytest.mark.parametrize("path", PAGES, ids=_name)
def test_a_page_begins_by_saying_whom_it_is_for(path: Path) -> None:
    doctree, _ = _doctree(path)
    first = next(doctree.findall(nodes.paragraph), None)
    assert first is not None, f"{_name(path)} has no paragraph"
    assert "This page is for" in first.astext(), (
        f"{_name(path)} begins with {first.astext()[:80]!r}, not with whom it is for")


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_every_repository_path_named_exists(path: Path) -> None:
    doctree, _ = _doctree(path)
    paths = _repo_paths(_literal_texts(doctree))
    missing = sorted(name for name in paths if not (ROOT / name).exists())
    assert not missing, f"{_name(path)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_every_script_named_is_executable(path: Path) -> None:
    doctree, _ = _doctree(path)
    scripts = {name for name in _repo_paths(_literal_texts(doctree))
               if name.startswith("scripts/") and not name.endswith("/")}
    not_runnable = sorted(name for name in scripts
                          if not ((ROOT / name).is_file() and os.access(ROOT / name, os.X_OK)))
    assert not not_runnable, f"{_name(path)} names scripts that cannot run: {not_runnable}"


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_every_mq_consumer_option_named_is_accepted(path: Path) -> None:
    doctree, _ = _doctree(path)
    named = {option for text in _literal_texts(doctree)
             for line in MQ_CONSUMER_LINE.findall(text) for option in OPTION.findall(line)}
    if not named:
        return
    unknown = sorted(named - _mq_consumer_options())
    assert not unknown, f"{_name(path)} names mq-consumer options it does not accept: {unknown}"


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_every_bench_option_named_is_accepted(path: Path) -> None:
    doctree, _ = _doctree(path)
    named = {option for text in _literal_texts(doctree)
             for line in BENCH_LINE.findall(text) for option in OPTION.findall(line)}
    unknown = sorted(named - _bench_options())
    assert not unknown, f"{_name(path)} names bench.py options it does not accept: {unknown}"


def test_the_checks_see_what_they_check() -> None:
    """The extraction finds what the pages name, so that the checks above are not vacuous."""
    doctree, _ = _doctree(README)
    readme = _literal_texts(doctree)
    assert {"scripts/demo", "scripts/test"} <= _repo_paths(readme)
    doctree, _ = _doctree(DOCS / "consuming.rst")
    lines = [line for text in _literal_texts(doctree) for line in MQ_CONSUMER_LINE.findall(text)]
    assert {"--bind", "--link-queue"} <= {option for line in lines
                                           for option in OPTION.findall(line)}
    assert "--link-queue" in _mq_consumer_options()
    assert {"--quick", "--gc-freeze"} <= _bench_options()
    assert not _repo_paths(["$PWD/listen_events", "kytos/mq_producer",
                            "/api/kytos/listen_events/v1/status"])
