"""A small test host for mq_producer's web UI panel: what kytosd serves to the Kytos-ng web UI,
in front of the real NApps.

- ``/api/kytos/<napp>/<rule>``: the REST routes of listen_events and mq_producer, loaded in the
  test double controller (``tests/support/kytos_controller.py``) as the other integration
  tests run them, served over HTTP by uvicorn on the controller's own event loop (as kytosd
  serves them on its loop).
- ``/ui/<section>/``: the NApps' UI components, listed as kytosd lists them: every
  ``<napps>/<user>/<napp>/ui/<section>/<file>.kytos``, named ``<user>-<napp>-<section>-<file>``,
  at ``ui/<user>/<napp>/<section>/<file>.kytos``; and ``/ui/<user>/<napp>/<path>``: the files.
  The NApps directory holds links to the NApps' packages, so what is listed is what a
  NApp installs (its package data).
- ``/`` and ``/host/...``: the stand-in web UI (``tests/support/ui_host_page/``); ``/vendor/...``:
  vue, vue3-sfc-loader and axios from ``node_modules/`` (``npm ci``).

The host runs in a thread of its own with its own event loop, so that a test drives the
browser synchronously; ``call()`` runs a coroutine there (to push Kytos events, say).

``ScriptedUiHost`` is the same page in front of answers a test writes instead of the NApps:
for what the real routes do not answer on demand (no answer at all, a proxy's HTML page, a 500
of one route, odd fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import listen_events
import mq_producer
from tests.support.napp_stack import Stack

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).with_name("ui_host_page")
NODE_MODULES = ROOT / "node_modules"
VENDOR = {
    "vue.global.js": NODE_MODULES / "vue" / "dist" / "vue.global.js",  # the build with the
    # template compiler, and the development warnings the test looks for
    "vue3-sfc-loader.js": NODE_MODULES / "vue3-sfc-loader" / "dist" / "vue3-sfc-loader.js",
    "axios.min.js": NODE_MODULES / "axios" / "dist" / "axios.min.js",
}
SECTION = re.compile(r"[A-Za-z0-9_-]+")
T = TypeVar("T")


def make_napps_dir(base: Path) -> Path:
    """A NApps directory as kytosd's: ``<base>/kytos/<napp>`` -> the NApp's package."""
    for package in (listen_events, mq_producer):
        link = base / "kytos" / package.__name__
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(Path(package.__file__).resolve().parent, target_is_directory=True)
    return base


def ui_components(napps: Path, section: str) -> list[dict[str, str]]:
    """What kytosd answers at ``/ui/<section>/`` ("all": every section)."""
    pattern = "*" if section == "all" else section
    components = []
    for path in sorted(napps.glob(f"*/*/ui/{pattern}/*.kytos")):
        user, napp, _ui, found, filename = path.relative_to(napps).parts
        components.append({"name": f"{user}-{napp}-{found}-{filename.removesuffix('.kytos')}",
                           "url": f"ui/{user}/{napp}/{found}/{filename}"})
    return components


class _CountRequests:
    """ASGI middleware: how many requests each path got."""

    def __init__(self, app: ASGIApp, counts: Counter[str]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.counts[scope["path"]] += 1
        await self.app(scope, receive, send)


class UiHost:
    def __init__(self, napps_dir: Path) -> None:
        self.napps_dir = napps_dir
        self.counts: Counter[str] = Counter()
        self.stack: Stack | None = None
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def requests(self, path: str) -> int:
        """Requests the host got for ``path`` so far."""
        return self.counts[path]

    def start(self, timeout: float = 30) -> UiHost:
        """Load both NApps (reading the settings and environment as they are now) and serve."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sock,), name="ui-host",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the UI host did not start in {timeout}s")
        if self._error is not None:
            raise RuntimeError("the UI host failed to start") from self._error
        return self

    def call(self, make: Callable[[Stack], Awaitable[T]], timeout: float = 30) -> T:
        """Run ``make(stack)`` on the host's loop and return its result."""
        assert self._loop is not None and self.stack is not None
        stack = self.stack

        async def run() -> T:
            return await make(stack)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 30) -> None:
        """Stop serving, then shut the NApps down as kytosd does."""
        if self._server is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._error is not None:
            raise RuntimeError("the UI host failed") from self._error

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._main(sock))
        except BaseException as exc:  # reported by start() / stop()
            self._error = exc
            self._ready.set()

    async def _main(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self.stack = Stack.start()
        try:
            await self._serve(self._app(self.stack), sock)
        finally:
            await self.stack.stop()

    async def _serve(self, app: Starlette, sock: socket.socket) -> None:
        config = uvicorn.Config(_CountRequests(app, self.counts),
                                log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        try:
            while not self._server.started:
                if serving.done():
                    await serving  # raises what stopped it
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
            self._ready.set()
            await serving
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _page_routes(self) -> list[Route]:
        """The stand-in web UI and the NApps' UI files."""
        return [Route("/", self._page), Route("/host/{name}", self._page_file),
                Route("/vendor/{name}", self._vendor),
                Route("/ui/{section}", self._list), Route("/ui/{section}/", self._list),
                Route("/ui/{username}/{napp}/{filename:path}", self._ui_file)]

    def _app(self, stack: Stack) -> Starlette:
        routes = self._page_routes()
        for napp in (stack.listen, stack.producer):  # as core's APIServer registers them
            for name in dir(napp):
                method = getattr(napp, name)
                if hasattr(method, "route_index"):
                    rule, options = method.route_index
                    routes.append(Route(f"/api/{napp.username}/{napp.name}/{rule}", method,
                                        methods=options["methods"]))
        return Starlette(debug=False, routes=routes)

    async def _page(self, _request: Request) -> Response:
        return FileResponse(PAGE / "index.html")

    async def _page_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in {"host.js", "host.css"}:
            return JSONResponse("", status_code=404)
        return FileResponse(PAGE / name)

    async def _vendor(self, request: Request) -> Response:
        path = VENDOR.get(request.path_params["name"])
        if path is None:
            return JSONResponse("", status_code=404)
        return FileResponse(path, media_type="text/javascript")

    async def _list(self, request: Request) -> Response:
        section = request.path_params["section"]
        if not SECTION.fullmatch(section):
            return JSONResponse([], status_code=404)
        return JSONResponse(ui_components(self.napps_dir, section))

    async def _ui_file(self, request: Request) -> Response:
        """As kytosd: ``<napps>/<user>/<napp>/ui/<filename>``, nothing outside it."""
        params = request.path_params
        base = (self.napps_dir / params["username"] / params["napp"] / "ui").resolve()
        path = (base / params["filename"]).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return JSONResponse("", status_code=404)
        return FileResponse(path)

    def status(self) -> Any:
        """mq_producer's status answer, read on the host's loop."""
        return self.call(lambda stack: stack.status())


class ScriptedUiHost(UiHost):
    """The stand-in web UI in front of written answers, no NApp behind: ``answers[route]`` (a
    route as ``kytos/mq_producer/v1/status``) is what ``/api/<route>`` answers, read at each
    request, so a test changes it while the page polls:

    - ``{"status": 200, "body": ...}``: JSON;
    - ``{"status": 200, "raw": "<html>..."}``: that text, as HTML (a proxy's page);
    - ``{"hang": True}``: no answer until the client gives up (counted in ``abandoned``) or the
      host stops.

    A route without an answer is a 404, as core's.
    """

    def __init__(self, napps_dir: Path, answers: dict[str, dict[str, Any]]) -> None:
        super().__init__(napps_dir)
        self.answers = answers
        self.abandoned: Counter[str] = Counter()  # hung requests the client gave up
        self._stopping = False

    def stop(self, timeout: float = 30) -> None:
        self._stopping = True  # hung requests end, so that the server can stop
        super().stop(timeout)

    def status(self) -> Any:
        raise NotImplementedError("no NApp behind a ScriptedUiHost")

    async def _main(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        routes = [*self._page_routes(),
                  Route("/api/{route:path}", self._answer, methods=["GET", "POST"])]
        await self._serve(Starlette(debug=False, routes=routes), sock)

    async def _answer(self, request: Request) -> Response:
        answer = self.answers.get(request.path_params["route"])
        if answer is None:
            return JSONResponse({"description": "Not Found", "code": 404}, status_code=404)
        if answer.get("hang"):
            deadline = time.monotonic() + 120
            while not self._stopping and time.monotonic() < deadline:
                if await request.is_disconnected():
                    self.abandoned[request.url.path] += 1
                    break
                await asyncio.sleep(0.05)
            return Response(status_code=504)
        if "raw" in answer:
            return Response(answer["raw"], status_code=answer["status"], media_type="text/html")
        return Response(json.dumps(answer["body"]), status_code=answer["status"],
                        media_type="application/json")
