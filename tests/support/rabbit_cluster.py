"""A private, throw-away three-node RabbitMQ cluster for failover tests.

Three :class:`~tests.support.rabbit_node.RabbitNode` on loopback, each with its own ports,
data and log directories under ``base_dir/n1``, ``n2``, ``n3``, sharing one Erlang cookie
(written to each node's ``$HOME/.erlang.cookie``, which its rabbitmqctl reads too). Node 1 is
started alone; nodes 2 and 3 are joined to it (``stop_app``, ``join_cluster``, ``start_app``)
once they are up. The machine's shared broker (5672) is never touched.

Nodes are numbered from 0 in Python, as :attr:`RabbitCluster.urls` and
``BrokerSettings.node(i)`` are: node ``i`` is named ``c<pid>n<i + 1>@localhost``.

Typical use (blocking calls; wrap them in ``asyncio.to_thread`` in async tests)::

    cluster = RabbitCluster(tmp_path_factory.mktemp("cluster"))
    request.addfinalizer(cluster.stop_all)
    cluster.start_all()
    os.environ["KYTOS_MQ_URL"] = cluster.url_list
    leader = cluster.quorum_leader("events")   # index of the node leading that queue
    cluster.kill(leader)                       # kill -9 its Erlang VM
    cluster.start(leader)                      # same data dir: back as a cluster member
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from tests.support.rabbit_node import (
    RABBITMQ_BIN_DIR,
    RabbitNode,
    RabbitNodeError,
    port_open,
    rabbitmq_available,
)

QUEUES_BIN = RABBITMQ_BIN_DIR / "rabbitmq-queues"
_cluster_ids = itertools.count(1)
_T = TypeVar("_T")
_A = TypeVar("_A")

__all__ = ["RabbitCluster", "RabbitNodeError", "private_cluster", "rabbitmq_available"]


class RabbitCluster:
    """``size`` private RabbitMQ nodes on loopback forming one cluster."""

    def __init__(self, base_dir: Path, size: int = 3) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.base_dir = base_dir
        self.cookie = secrets.token_hex(16).upper()
        number = next(_cluster_ids)
        stem = f"c{os.getpid()}" + (f"k{number}" if number > 1 else "")
        self.nodes: list[RabbitNode] = [
            RabbitNode(base_dir / f"n{index}", node_name=f"{stem}n{index}@localhost",
                       cookie=self.cookie)
            for index in range(1, size + 1)
        ]
        self.start_seconds: float | None = None  # how long start_all() took
        self.phases: dict[str, float] = {}  # start_all()'s phases, seconds each

    # -- addresses ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, index: int) -> RabbitNode:
        return self.nodes[index]

    @property
    def urls(self) -> list[str]:
        """One AMQP URL per node (guest/guest, loopback)."""
        return [node.url for node in self.nodes]

    @property
    def url_list(self) -> str:
        """The nodes' URLs, comma-separated: what KYTOS_MQ_URL takes for a cluster."""
        return ",".join(self.urls)

    @property
    def names(self) -> list[str]:
        return [node.node_name for node in self.nodes]

    def index_of(self, name_or_port: str | int) -> int:
        """The index of a node given its Erlang node name, its AMQP port, a ``host:port`` or
        an AMQP URL (as ``transport.description`` names the node in use)."""
        text = str(name_or_port)
        if text in self.names:
            return self.names.index(text)
        port = name_or_port if isinstance(name_or_port, int) else urlsplit(
            text if "://" in text else f"amqp://{text}").port
        for index, node in enumerate(self.nodes):
            if node.port == port:
                return index
        raise ValueError(f"no node of this cluster listens on {name_or_port!r}")

    def running(self) -> list[int]:
        """Indexes of the nodes whose AMQP port accepts connections."""
        return [index for index, node in enumerate(self.nodes) if port_open(node.port)]

    # -- lifecycle ----------------------------------------------------------

    def start_all(self, timeout: float = 120) -> float:
        """Start every node (in parallel), join nodes 2.. to node 1, wait until all of them
        run as one cluster. Returns the seconds it took (also in ``start_seconds``)."""
        began = mark = time.monotonic()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            self.phases[name] = self.phases.get(name, 0.0) + now - mark
            mark = now

        try:
            self._each(lambda node: node.start(timeout=timeout), self.nodes)
            phase("boot")
            first = self.nodes[0].node_name
            for node in self.nodes[1:]:  # one at a time: joins to one node are serialised
                node.rabbitmqctl("stop_app")
                node.rabbitmqctl("join_cluster", first)
                phase("join")
                node.start_app(timeout=timeout)
                phase("start_app")
            self.wait_clustered(timeout=timeout)
            phase("clustered")
        except BaseException:
            self.stop_all()
            raise
        self.start_seconds = time.monotonic() - began
        return self.start_seconds

    def kill(self, index: int) -> None:
        """kill -9 node ``index`` (its VM and children); returns once its port is closed."""
        self.nodes[index].kill()

    def stop(self, index: int) -> None:
        """Stop node ``index`` gracefully (``rabbitmqctl stop``; SIGKILL as a last resort)."""
        self.nodes[index].stop()

    def start(self, index: int, timeout: float = 120) -> None:
        """Start node ``index`` again after :meth:`kill` or :meth:`stop`: with its data
        directory it comes back as a member of the cluster. Returns once every running node
        sees every other one."""
        self.nodes[index].start(timeout=timeout)
        self.wait_clustered(timeout=timeout)

    def stop_all(self) -> None:
        """Stop every node (in parallel; idempotent, safe in finalizers). Nothing is
        removed: the data stays under ``base_dir`` for a look after a failure."""
        self._each(lambda node: node.stop(), self.nodes, raise_first=False)

    # -- state --------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """``rabbitmqctl ARGS`` against the first node that runs (the answer is the cluster's)."""
        errors: list[str] = []
        for index in self.running() or range(len(self.nodes)):
            try:
                return self.nodes[index].rabbitmqctl(*args, timeout=timeout)
            except (RabbitNodeError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
        raise RabbitNodeError("no node answered rabbitmqctl " + " ".join(args) + ":\n"
                              + "\n".join(errors))

    def cluster_status(self, index: int) -> dict:
        """Node ``index``'s view of the cluster (``cluster_status --formatter json``)."""
        out = self.nodes[index].rabbitmqctl("cluster_status", "--formatter", "json")
        return json.loads(out)

    def wait_clustered(self, timeout: float = 60) -> None:
        """Until every node whose port is open sees all those nodes running in its cluster,
        and every node of this cluster (running or not) as a member."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            running = self.running()
            expected = {self.nodes[index].node_name for index in running}
            try:
                views = self._each(self.cluster_status, running)
                if running and all(
                        expected <= set(view.get("running_nodes", []))
                        and set(self.names) <= set(view.get("disk_nodes", []))
                        for view in views):
                    return
                last = json.dumps(views)
            except (RabbitNodeError, subprocess.TimeoutExpired, ValueError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise RabbitNodeError(f"the nodes {sorted(expected)} do not form one cluster "
                                      f"after {timeout}s: {last}")
            time.sleep(0.3)

    def queue_info(self, *fields: str) -> list[dict]:
        """``list_queues`` with these fields, one dict per queue (vhost ``/``)."""
        out = self.ctl("list_queues", "--quiet", "--formatter", "json", *fields)
        return json.loads(out)

    def quorum_leader(self, queue: str, timeout: float = 30) -> int:
        """The index of the node leading quorum queue ``queue``, once it has a leader on a
        running node (after a failover: once one is elected)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                rows = [row for row in self.queue_info("name", "type", "leader", "members")
                        if row.get("name") == queue]
                last = rows
                if rows and rows[0].get("type") != "quorum":
                    raise RabbitNodeError(f"queue {queue!r} is not a quorum queue: {rows[0]}")
                leader = rows[0].get("leader") if rows else None
                if leader in self.names and port_open(self.nodes[self.names.index(leader)].port):
                    return self.names.index(leader)
            except (subprocess.TimeoutExpired, ValueError) as exc:
                last = exc
            if time.monotonic() > deadline:
                raise RabbitNodeError(f"no leader on a running node for {queue!r} after "
                                      f"{timeout}s: {last}")
            time.sleep(0.3)

    def wait_quorum_online(self, queue: str, timeout: float = 60) -> None:
        """Until quorum queue ``queue`` has a member on every node and all of them online:
        a member on a node that has just rejoined may take a while to start, and a kill
        meanwhile would leave the queue without a majority (its publishes nacked)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                rows = [row for row in self.queue_info("name", "members", "online")
                        if row.get("name") == queue]
                last = rows
                if rows and sorted(rows[0].get("members") or []) == sorted(self.names) \
                        and sorted(rows[0].get("online") or []) == sorted(self.names):
                    return
            except (RabbitNodeError, subprocess.TimeoutExpired, ValueError) as exc:
                last = exc
            if time.monotonic() > deadline:
                raise RabbitNodeError(f"quorum queue {queue!r} has not every member online "
                                      f"after {timeout}s: {last}")
            time.sleep(0.3)

    def quorum_status(self, queue: str) -> str:
        """``rabbitmq-queues quorum_status QUEUE`` (the Raft members and their state)."""
        index = (self.running() or [0])[0]
        node = self.nodes[index]
        result = subprocess.run(
            [str(QUEUES_BIN), "-n", node.node_name, "quorum_status", queue],
            env=node._ctl_env(), cwd=node.base_dir, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RabbitNodeError(f"rabbitmq-queues quorum_status {queue} exited "
                                  f"{result.returncode}:\n{result.stdout}{result.stderr}")
        return result.stdout

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(node.log_tail(lines) for node in self.nodes)

    @staticmethod
    def _each(action: Callable[[_A], _T], items: list[_A],
              raise_first: bool = True) -> list[_T | None]:
        """``action`` on each item at once (a thread each); the first error is raised once
        all are done (or, with ``raise_first=False``, ignored: None for that item)."""
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=len(items)) as pool:
            futures = [pool.submit(action, item) for item in items]
        results: list[_T | None] = []
        error: BaseException | None = None
        for future in futures:
            exc = future.exception()
            if exc is not None:
                error = error or exc
                results.append(None)
            else:
                results.append(future.result())
        if error is not None and raise_first:
            raise error
        return results

    def __repr__(self) -> str:
        ports = ", ".join(f"{node.node_name}:{node.port}" for node in self.nodes)
        return f"RabbitCluster({ports})"


def private_cluster(base_dir: Path, size: int = 3) -> Iterator[RabbitCluster]:
    """A started cluster for a module-scoped fixture (``yield from private_cluster(...)``),
    stopped when the fixture ends."""
    cluster = RabbitCluster(base_dir, size)
    try:
        cluster.start_all()
        yield cluster
    finally:
        with contextlib.suppress(RabbitNodeError):
            cluster.stop_all()
