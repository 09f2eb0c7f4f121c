"""alisten_to and load_spec, with core's behaviour."""

import logging
import traceback
from pathlib import Path

import yaml
from openapi_spec_validator import validate

LOG = logging.getLogger("kytos.core.helpers")


def alisten_to(event, *events):
    def decorator(handler):
        async def inner(*args):
            napp, kytos_event = args[0], args[1]
            try:
                return await handler(*args)
            except Exception:
                LOG.error("alisten_to handler: %s, args: %s traceback: %s", handler, args,
                          traceback.format_exc())
                napp.controller.dead_letter.append(kytos_event)
                return None
        inner.events = [event, *events]
        return inner
    return decorator


def load_spec(path):
    """Core validates the spec when a NApp's class body is executed; so does this."""
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    validate(spec)
    return spec
