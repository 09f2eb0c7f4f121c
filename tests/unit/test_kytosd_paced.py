"""benchmarks/kytosd_paced.py's NApp trees: the NApps it runs in a real kytosd are this tree's
(or a commit's) with their settings' defaults, but for the run's own exchange and queue names
(bench.producer_settings_for) and the settings a mode changes (``--setting``)."""

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402
import kytosd_paced  # noqa: E402

from mq_producer import settings as producer_defaults  # noqa: E402


def settings_of(path: Path) -> ModuleType:
    """A settings.py as kytosd imports it: run from its file."""
    spec = importlib.util.spec_from_file_location(f"settings_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("rev", [None, "HEAD"], ids=["working tree", "a commit"])
def test_the_napps_run_in_kytosd_publish_under_the_runs_own_names(tmp_path: Path,
                                                                    rev: str | None) -> None:
    names = bench.Names("bench.unit")
    kytosd_paced.napps_tree(tmp_path, names, {"listen_events": {"LINGER_MS": 10.0},
                                              "mq_producer": {"CONFIRM_READ_LINGER_MS": 0}},
                            rev)
    napps = tmp_path / "kytos"
    assert (napps / "__init__.py").exists()
    assert (napps / "listen_events" / "main.py").exists()
    assert (napps / "mq_producer" / "main.py").exists()
    assert not list(napps.rglob("__pycache__"))

    producer = settings_of(napps / "mq_producer" / "settings.py")
    exchanges = names.exchanges
    assert [route["exchange"] for route in producer.ROUTES] == [
        exchanges["admin_events"], exchanges["operational_events"], exchanges["other_events"]]
    assert {queue["queue"] for queue in producer.QUEUES} == {names.sink}
    assert names.dead_letter == producer.DEAD_LETTER
    assert producer.NAPP_QUEUES == {"enabled": False}
    assert producer.VERBOSE_QUEUE == {"enabled": False}
    # LINK_STATUS is the tree's own, but for the names: a commit's may hold other keys.
    expected = {**producer_defaults.LINK_STATUS, "exchange": exchanges["interdomain_links"],
                "queue_prefix": names.link_queue_prefix}
    assert expected == producer.LINK_STATUS
    assert producer.CONFIRM_READ_LINGER_MS == 0
    # Everything else is the setting's default.
    assert producer.MAX_IN_FLIGHT == producer_defaults.MAX_IN_FLIGHT

    listen = settings_of(napps / "listen_events" / "settings.py")
    assert listen.LINGER_MS == 10.0


def test_without_settings_the_napps_keep_their_own(tmp_path: Path) -> None:
    kytosd_paced.napps_tree(tmp_path, bench.Names("bench.unit"), {}, None)
    listen = settings_of(tmp_path / "kytos" / "listen_events" / "settings.py")
    producer = settings_of(tmp_path / "kytos" / "mq_producer" / "settings.py")
    from listen_events import settings as listen_defaults
    assert listen.LINGER_MS == listen_defaults.LINGER_MS
    assert producer.CONFIRM_READ_LINGER_MS == producer_defaults.CONFIRM_READ_LINGER_MS


def test_a_setting_is_a_napp_a_name_and_a_python_literal() -> None:
    assert kytosd_paced.parse_setting("listen_events.LINGER_MS=10") == (
        "listen_events", "LINGER_MS", 10)
    assert kytosd_paced.parse_setting("mq_producer.ROUTES=[]") == ("mq_producer", "ROUTES", [])
    for bad, why in (("LINGER_MS=10", "not NAPP.SETTING"),
                     ("topology.LINGER_MS=10", "not NAPP.SETTING"),
                     ("listen_events.linger=10", "not NAPP.SETTING"),
                     ("listen_events.LINGER_MS=ten", "not a Python literal"),
                     ("listen_events.LINGER_MS=", "not a Python literal")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            kytosd_paced.parse_setting(bad)


class FakeKytosd:
    """What run_mode reads from a kytosd: the probe's windows, mq_producer's v1/status."""

    REPORTED = ("bench.unit.sink", "bench.unit.dead", "bench.unit.interdomain_link.l1")

    def __init__(self, *_args: object) -> None:
        self.events = 0

    def wait_ready(self, with_napps: bool) -> None:
        pass

    def queues(self) -> list[str]:
        return list(self.REPORTED)

    def confirmed(self) -> int:
        return self.events

    def window(self, rate: float, seconds: float, exchange: str | None, count: bool = False
               ) -> dict[str, object]:
        events = int(rate * seconds)
        self.events += events
        return {"events": events, "cpu_seconds": events * 1e-4, "late_max_ms": 0.0,
                "gc": {"collections": [0, 0, 0], "cpu_seconds": [0.0, 0.0, 0.0]},
                "confirmed": events}

    def stop(self) -> list[str]:
        return []


def test_a_run_deletes_every_queue_the_napps_declared(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The queues mq_producer reports (the dead-letter queue, any link's) are collected for
    the run's cleanup; before, only the sink was deleted and every run left its .dead queue."""
    monkeypatch.setattr(kytosd_paced, "Kytosd", FakeKytosd)
    args = argparse.Namespace(kytos_python="python", url="amqp://", rates=[500.0], seconds=1.0,
                              count=False)
    names = bench.Names("bench.unit")
    queues: set[str] = set()
    for mode in ("base", "raw"):  # no NApps: nothing to ask mq_producer
        kytosd_paced.run_mode(args, mode, tmp_path, tmp_path / "log", names, queues)
    assert queues == set()
    kytosd_paced.run_mode(args, "napps", tmp_path, tmp_path / "log", names, queues)
    assert queues == set(FakeKytosd.REPORTED)
