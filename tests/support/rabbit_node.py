"""A private, throw-away RabbitMQ node for fault-injection tests.

The node runs from the Debian ``rabbitmq-server`` package binaries, as the
current user, with its own ports, node name, Erlang cookie, data and log
directories.  It never touches the machine's shared broker.

Typical use (blocking calls; wrap them in ``asyncio.to_thread`` in async tests)::

    node = RabbitNode(tmp_path_factory.mktemp("rabbit"))
    request.addfinalizer(node.stop)
    node.start()
    ...                      # talk AMQP to node.url
    node.kill()              # kill -9 the Erlang VM
    node.start()             # same data dir: durable state survives
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

RABBITMQ_BIN_DIR = Path("/usr/lib/rabbitmq/bin")
SERVER_BIN = RABBITMQ_BIN_DIR / "rabbitmq-server"
CTL_BIN = RABBITMQ_BIN_DIR / "rabbitmqctl"
EPMD_PORT = 4369
# Ports that RabbitMQ itself may use on this machine: the shared broker's AMQP
# and distribution ports, epmd, management, and the fixed range rabbitmqctl
# uses for its own Erlang distribution listener (35672-35682).
_RESERVED_PORTS = frozenset({EPMD_PORT, 5672, 15672, 25672, *range(35672, 35683)})
_instance_ids = itertools.count(1)


class RabbitNodeError(RuntimeError):
    """The private node failed to start, stop or answer."""


def rabbitmq_available() -> bool:
    """True when the RabbitMQ server binaries and Erlang are installed."""
    return (
        os.access(SERVER_BIN, os.X_OK)
        and os.access(CTL_BIN, os.X_OK)
        and shutil.which("erl") is not None
    )


def free_port() -> int:
    """A TCP port nobody listens on (on any address), outside RabbitMQ's fixed ports."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("0.0.0.0", 0))
            port: int = sock.getsockname()[1]
        if port not in _RESERVED_PORTS:
            return port


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def epmd_names() -> dict[str, int]:
    """Node names registered with the local epmd (``{}`` when epmd does not answer)."""
    try:
        with socket.create_connection(("127.0.0.1", EPMD_PORT), timeout=2.0) as sock:
            sock.sendall(struct.pack(">H", 1) + b"n")  # NAMES_REQ
            chunks: list[bytes] = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
    except OSError:
        return {}
    names: dict[str, int] = {}
    for line in b"".join(chunks)[4:].decode(errors="replace").splitlines():
        parts = line.split()  # "name foo at port 12345"
        if len(parts) == 5 and parts[0] == "name":
            names[parts[1]] = int(parts[4])
    return names


def _pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (killed, not yet reaped) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class RabbitNode:
    """One private RabbitMQ node, everything under ``base_dir``."""

    def __init__(
        self,
        base_dir: Path,
        *,
        port: int | None = None,
        dist_port: int | None = None,
        node_name: str | None = None,
        extra_config: str = "",
        cookie: str | None = None,
    ) -> None:
        self.base_dir: Path = base_dir
        self.extra_config: str = extra_config  # appended to rabbitmq.conf (e.g. TLS listener)
        # The Erlang cookie; nodes of one cluster (and their rabbitmqctl) must share it.
        # None: a random one of this node's own.
        self.cookie: str | None = cookie
        self._port: int = port if port is not None else free_port()
        self._dist_port: int = dist_port if dist_port is not None else free_port()
        while self._dist_port == self._port:
            self._dist_port = free_port()
        short = f"fault{os.getpid()}n{next(_instance_ids)}"
        self.node_name: str = node_name or f"{short}@localhost"
        self.home_dir: Path = base_dir / "home"
        self.mnesia_dir: Path = base_dir / "mnesia"
        self.log_dir: Path = base_dir / "log"
        self.pid_file: Path = base_dir / "node.pid"
        self.console_log: Path = self.log_dir / "console.log"
        self.node_log: Path = self.log_dir / f"{self.node_name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._prepare_dirs()

    # -- properties -------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def dist_port(self) -> int:
        return self._dist_port

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self._port}/"

    @property
    def running(self) -> bool:
        """True while any process of this node (wrapper, VM, port programs) is alive."""
        return bool(self._node_pids())

    # -- lifecycle ----------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Spawn the node; return once it is booted and accepts AMQP connections.

        Works for the first start and again after :meth:`kill` or :meth:`stop`
        (same data directory, so durable entities and persistent messages stay).
        """
        if self.running:
            raise RabbitNodeError(f"{self.node_name} is already running")
        self._wait_name_released(timeout=10)
        self.pid_file.unlink(missing_ok=True)  # a stale pid file confuses `wait`
        deadline = time.monotonic() + timeout
        with self.console_log.open("ab") as console:
            self._proc = subprocess.Popen(
                [str(SERVER_BIN)],
                env=self._node_env(),
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                # own session + process group: killpg reaches the wrapper and beam.smp;
                # erl_child_setup and port programs setsid() and are found via environ
                start_new_session=True,
            )
        try:
            self._wait_booted(deadline)
            remaining = max(deadline - time.monotonic(), 5.0)
            if not _wait_until(lambda: port_open(self._port), remaining):
                raise RabbitNodeError(f"AMQP port {self._port} does not accept connections")
        except (RabbitNodeError, subprocess.TimeoutExpired) as exc:
            tail = self.log_tail()
            with contextlib.suppress(RabbitNodeError):
                self._kill_processes()
            raise RabbitNodeError(
                f"RabbitMQ node {self.node_name} failed to start: {exc}\n{tail}"
            ) from exc

    def _wait_booted(self, deadline: float) -> None:
        """``rabbitmqctl wait`` on the pid file: the node booted. ``wait`` that reads the file
        before the node has written its pid in it fails at once ("garbage_in_pid_file": seen
        once, a cluster's node starting on a busy 2-vCPU host): it is asked again, until the
        deadline."""
        while True:
            remaining = max(deadline - time.monotonic(), 1.0)
            try:
                self.rabbitmqctl("wait", "--timeout", str(int(remaining)), str(self.pid_file),
                                 timeout=remaining + 10)
                return
            except RabbitNodeError as exc:
                if "garbage_in_pid_file" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def stop_app(self) -> None:
        """Stop the RabbitMQ application (clean outage; the VM keeps running)."""
        self.rabbitmqctl("stop_app")
        if not _wait_until(lambda: not port_open(self._port), 30):
            raise RabbitNodeError(f"port {self._port} still open after stop_app")

    def start_app(self, timeout: float = 60) -> None:
        """Start the RabbitMQ application again and wait for the AMQP port."""
        self.rabbitmqctl("start_app", timeout=timeout)
        if not _wait_until(lambda: port_open(self._port), timeout):
            raise RabbitNodeError(f"port {self._port} closed after start_app\n{self.log_tail()}")

    def flush_metadata(self) -> None:
        """Write the metadata store (mnesia: exchanges, queues, bindings) to disk now.

        Mnesia logs with delayed writes, so durable entities declared just before a
        :meth:`kill` can vanish with it (observed: 2 of 8 queues declared ~0.1 s before
        a kill -9 were gone after restart). Call this before ``kill()`` when the test
        needs that topology to survive; confirmed persistent messages need nothing.
        """
        out = self.rabbitmqctl("eval", "mnesia:dump_log().").strip()
        if out != "dumped":
            raise RabbitNodeError(f"mnesia:dump_log() returned {out!r}")

    def kill(self) -> None:
        """SIGKILL the Erlang VM and all its children; wait until the port is closed."""
        self._kill_processes()
        if not _wait_until(lambda: not port_open(self._port), 10):
            raise RabbitNodeError(f"port {self._port} still open after kill")

    def _kill_processes(self) -> None:
        pids = self._node_pids()
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            self._proc = None
        if not _wait_until(lambda: not self._node_pids(), 10):
            raise RabbitNodeError(f"processes of {self.node_name} survived SIGKILL")
        self._wait_name_released(timeout=10)

    def stop(self) -> None:
        """Stop the node cleanly (falls back to SIGKILL). Idempotent; safe in finalizers."""
        if self._proc is None and not self._node_pids():
            return
        if self.pid_file.exists():
            with contextlib.suppress(RabbitNodeError, subprocess.TimeoutExpired):
                self.rabbitmqctl("stop", str(self.pid_file), timeout=60)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=15)
        self._kill_processes()  # reaps the wrapper and removes anything left over

    # -- helpers ------------------------------------------------------------

    def rabbitmqctl(self, *args: str, timeout: float = 60) -> str:
        """Run ``rabbitmqctl -n NODE ARGS...`` and return its stdout."""
        result = subprocess.run(
            [str(CTL_BIN), "-n", self.node_name, *args],
            env=self._ctl_env(),
            cwd=self.base_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RabbitNodeError(
                f"rabbitmqctl {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the node log and of the console output."""
        parts: list[str] = []
        for path in (self.node_log, self.console_log):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"--- {path} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(parts) or f"(no log files in {self.log_dir})"

    def _prepare_dirs(self) -> None:
        for directory in (self.home_dir, self.mnesia_dir, self.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        cookie = self.home_dir / ".erlang.cookie"
        # node and rabbitmqctl both read $HOME/.erlang.cookie
        if self.cookie is not None and cookie.exists() and cookie.read_text() != self.cookie:
            cookie.unlink()
        if not cookie.exists():
            cookie.write_text(self.cookie or secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        (self.base_dir / "enabled_plugins").write_text("[].\n")  # no management on 15672
        (self.base_dir / "rabbitmq.conf").write_text(
            "loopback_users.guest = true\n"  # guest/guest from 127.0.0.1 only
            "log.console = false\n"
            "log.file.level = info\n" + self.extra_config
        )

    def _base_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RABBITMQ_", "ERL_")) and k != "NOTIFY_SOCKET"
        }
        env["HOME"] = str(self.home_dir)
        env["RABBITMQ_CONF_ENV_FILE"] = "/dev/null"  # ignore /etc/rabbitmq/rabbitmq-env.conf
        return env

    def _ctl_env(self) -> dict[str, str]:
        return self._base_env()

    def _node_env(self) -> dict[str, str]:
        env = self._base_env()
        env.update(
            RABBITMQ_NODENAME=self.node_name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self._port),
            RABBITMQ_DIST_PORT=str(self._dist_port),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            RABBITMQ_MNESIA_BASE=str(self.mnesia_dir),
            RABBITMQ_LOG_BASE=str(self.log_dir),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base_dir / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base_dir / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base_dir / "advanced.config"),
        )
        return env

    def _node_pids(self) -> list[int]:
        """Live processes of this node: its process group plus anything whose
        environment names this node (the VM and its port programs inherit it)."""
        marker = f"RABBITMQ_NODENAME={self.node_name}".encode()
        pgid = self._proc.pid if self._proc is not None else None
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                in_group = pgid is not None and os.getpgid(pid) == pgid
                if not in_group and marker not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
            except OSError:
                continue
            if _pid_alive(pid):
                pids.append(pid)
        return pids

    def _wait_name_released(self, timeout: float) -> None:
        """epmd drops a name when the VM's epmd socket closes; wait for that."""
        short = self.node_name.split("@", 1)[0]
        if not _wait_until(lambda: short not in epmd_names(), timeout):
            raise RabbitNodeError(f"node name {short} is still registered with epmd")

    def __repr__(self) -> str:
        return f"RabbitNode({self.node_name}, port={self._port}, dir={self.base_dir})"


def private_node(base_dir: Path, extra_config: str = "") -> Iterator[RabbitNode]:
    """A started node for a module-scoped fixture (``yield from private_node(...)``), stopped
    when the fixture ends."""
    rabbit = RabbitNode(base_dir, extra_config=extra_config)
    rabbit.start()
    yield rabbit
    rabbit.stop()
