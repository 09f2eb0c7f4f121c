"""KytosNApp and rest: the parts of kytos.core.napps that NApps rely on."""

import json
import sys
import threading
from pathlib import Path


def rest(rule, **options):
    def decorator(function):
        function.route_index = (rule, options)
        return function
    return decorator


class KytosNApp(threading.Thread):
    def __init__(self, controller, **kwargs):
        super().__init__(daemon=False)
        self.controller = controller
        json_path = Path(sys.modules[type(self).__module__].__file__).parent / "kytos.json"
        for attribute, value in json.loads(json_path.read_text(encoding="utf-8")).items():
            setattr(self, attribute, value)
        # As core: every NApp listens to kytos/core.shutdown (and to its own unload event);
        # _shutdown_handler calls shutdown() once.
        self._listeners = {"kytos/core.shutdown": [self._shutdown_handler],
                           f"kytos/core.shutdown.{self.napp_id}": [self._shutdown_handler]}
        self._shut_down = threading.Event()
        self.setup()
        for name in dir(self):
            method = getattr(self, name)
            if name[0] != "_" and callable(method) and hasattr(method, "events"):
                for pattern in method.events:
                    self._listeners.setdefault(pattern, []).append(method)

    @property
    def napp_id(self):
        return f"{self.username}/{self.name}"

    def listeners(self):
        return list(self._listeners)

    def _shutdown_handler(self, event):  # noqa: ARG002  (core's signature)
        if not self._shut_down.is_set():
            self.shutdown()
            self._shut_down.set()

    def setup(self):
        pass

    def execute(self):
        pass

    def shutdown(self):
        pass
