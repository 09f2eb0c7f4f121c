"""A private, throw-away nats-server with JetStream for fault-injection tests.

It runs the Debian ``nats-server`` binary as the current user on its own port, with its own
JetStream store directory; it never touches the machine's shared server on 4222. Blocking
calls (wrap them in ``asyncio.to_thread`` in async tests)::

    node = NatsNode(tmp_path_factory.mktemp("nats"))
    node.start()
    ...                      # talk to node.url
    node.stop()              # SIGTERM: a clean shutdown, the store is flushed
    node.start()             # same port and store: streams and messages are back
    node.kill()              # SIGKILL
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support.rabbit_node import free_port, port_open

NATS_SERVER_BIN = Path(os.environ.get("NATS_SERVER", "/usr/sbin/nats-server"))


class NatsNodeError(RuntimeError):
    """The private server failed to start or stop."""


def nats_server_path() -> str | None:
    if os.access(NATS_SERVER_BIN, os.X_OK):
        return str(NATS_SERVER_BIN)
    return shutil.which("nats-server")


def nats_available() -> bool:
    """True when a nats-server binary is installed (scripts/ensure-nats installs it)."""
    return nats_server_path() is not None


class NatsNode:
    def __init__(self, base_dir: Path, *, port: int | None = None, user: str | None = None,
                 password: str | None = None, jetstream: bool = True,
                 config: str | None = None) -> None:
        self.base_dir = base_dir
        self.store_dir = base_dir / "jetstream"
        self.log_file = base_dir / "nats-server.log"
        self.port = port if port is not None else free_port()
        self.user = user
        self.password = password
        self.jetstream = jetstream
        self.config = config  # a configuration file's text (accounts, permissions), if any
        self._proc: subprocess.Popen[bytes] | None = None
        base_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """The URL a client uses (with the credentials, when the node has a user)."""
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"nats://{auth}127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20) -> None:
        binary = nats_server_path()
        if binary is None:
            raise NatsNodeError("nats-server is not installed (scripts/ensure-nats)")
        if self.running:
            raise NatsNodeError(f"nats-server on {self.port} is already running")
        command = [binary, "-a", "127.0.0.1", "-p", str(self.port), "-n", f"test-{self.port}"]
        if self.jetstream:
            command += ["-js", "-sd", str(self.store_dir)]
        if self.user:
            command += ["--user", self.user, "--pass", str(self.password)]
        if self.config is not None:
            config_file = self.base_dir / "nats-server.conf"
            config_file.write_text(self.config)
            command += ["-c", str(config_file)]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_open(self.port, timeout=0.2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self._terminate(signal.SIGKILL)
                raise NatsNodeError(f"nats-server did not come up on {self.port}:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Clean shutdown (SIGTERM, SIGKILL after 10 s); idempotent."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        self._terminate(signal.SIGKILL)

    def _terminate(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while port_open(self.port, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __repr__(self) -> str:
        return f"NatsNode(port={self.port}, dir={self.base_dir})"
