"""Test setup: the Kytos core double when real kytos-ng is absent, and broker settings."""

import os
import sys
from pathlib import Path

sys.argv = sys.argv[:1]  # real core's KytosConfig parses sys.argv
try:
    import kytos.core  # noqa: F401  (real kytos-ng core, when installed)
except ImportError:
    sys.path.insert(0, str(Path(__file__).parent / "kytos_double"))

# The broker the tests use: KYTOS_MQ_URL if given, else the local default. mq_producer reads it
# when its main module is imported, as the NApp does in Kytos.
os.environ.setdefault("KYTOS_MQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
