"""Start a real kytosd (kytos-ng 2025.2.1) for benchmarks/kytosd_paced.py, which runs this
with the Python of the environment where kytos-ng is installed, in a prefix of its own:

    VIRTUAL_ENV=<prefix> KYTOSD_API_PORT=<port> KYTOSD_OF_PORT=<port> \\
        <kytos venv>/bin/python kytosd_launch.py

The configuration is kytosd's own first start's: core renders kytos.conf and logging.ini
from its templates under ``$VIRTUAL_ENV`` (NApps in ``<prefix>/var/lib/kytos/napps``); then
only these are set: in the foreground (``daemon = False``), on 127.0.0.1, on the given ports.
As kytos-ng's own test helper ``kytos.lib.helpers.get_controller_mock`` does, Auth's user
controller is a mock, so that kytosd starts without MongoDB (only its auth routes fail); and
the web UI is neither downloaded nor served (a benchmark has no use for it). Otherwise this is
``kytosd -c <prefix>/etc/kytos/kytos.conf``: core's own ``main()``, its loop, its stop on
SIGTERM.
"""

import os
import re
import sys
from pathlib import Path
from unittest.mock import MagicMock

sys.argv = ["kytosd"]  # KytosConfig() parses it

from kytos.core import kytosd  # noqa: E402  (after argv)
from kytos.core.api_server import APIServer  # noqa: E402
from kytos.core.auth import Auth  # noqa: E402
from kytos.core.config import KytosConfig  # noqa: E402

conf = Path(os.environ["VIRTUAL_ENV"], "etc", "kytos", "kytos.conf")
if not conf.exists():
    KytosConfig()  # a first start: renders the templates under $VIRTUAL_ENV
text = conf.read_text(encoding="utf-8")
for option, value in (("daemon", "False"), ("listen", "127.0.0.1"),
                      ("port", os.environ["KYTOSD_OF_PORT"]),
                      ("api_port", os.environ["KYTOSD_API_PORT"])):
    text = re.sub(rf"(?m)^{option} = .*$", f"{option} = {value}", text)
conf.write_text(text, encoding="utf-8")

Auth.get_user_controller = MagicMock()
APIServer.update_web_ui = lambda *args, **kwargs: None  # no download
APIServer.start_web_ui_static_files = lambda *args: None  # no static files to serve
sys.argv = ["kytosd", "-c", str(conf)]
kytosd.main()
