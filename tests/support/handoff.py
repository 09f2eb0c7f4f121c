"""Reading hand-off events in tests: listen_events hands most envelopes on as their JSON bytes
(``listen_events.envelope.hand_off_form``), a topology's as a dict (of JSON fragments)."""

from collections.abc import Mapping
from typing import Any

import orjson


def decoded(item: Any) -> Any:
    """One envelope of a hand-off event (or of ``EventPipeline.process``), as plain JSON
    values: a topology's switches and links are JSON fragments in it."""
    return orjson.loads(item if isinstance(item, bytes) else orjson.dumps(item))


def handed_envelopes(content: Mapping[str, Any]) -> list[Any]:
    """The envelopes of a hand-off event's content, as dicts."""
    return [decoded(item) for item in content["envelopes"]]
