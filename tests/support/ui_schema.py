"""What mq_producer's web UI panel may call and read: the routes and answer schemas of both
NApps' openapi.yml.

A field is a path in an answer: ``counters.confirmed``, ``outage.since``,
``messages[].outcome`` (an item of an array), ``exchanges.*.state`` (any key of an object
described by ``additionalProperties``); or the list of its parts, when keys may hold dots
(``["exchanges", "kytos.events", "state"]``).
"""

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
NAPPS = ("listen_events", "mq_producer")
API_PATH = re.compile(r"/?(?:api/)?kytos/(?P<napp>[\w-]+)(?P<path>/.*)")


@cache
def spec(napp: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / napp / "openapi.yml").read_text(encoding="utf-8"))


def split_route(url: str) -> tuple[str, str]:
    """``/api/kytos/mq_producer/v1/status`` or ``kytos/mq_producer/v1/status`` -> the NApp
    and the path in its spec (``/v1/status``)."""
    match = API_PATH.fullmatch(url)
    if match is None:
        raise ValueError(f"not a route of a kytos NApp: {url!r}")
    return match["napp"], match["path"]


def operation(napp: str, path: str, method: str) -> Mapping[str, Any] | None:
    """The spec's description of ``method path``, None when there is none."""
    if napp not in NAPPS:
        return None
    return spec(napp)["paths"].get(path, {}).get(method.lower())


def _resolve(napp: str, schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        node: Any = spec(napp)
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def answer_schema(napp: str, path: str, method: str, status: int | str
                  ) -> Mapping[str, Any] | None:
    """The schema of the answer ``status`` to ``method path``; None when undocumented."""
    described = operation(napp, path, method)
    if described is None:
        return None
    answer = described["responses"].get(str(status))
    if answer is None:
        return None
    return _resolve(napp, answer["content"]["application/json"]["schema"])


def field_parts(field: str) -> list[str]:
    """``messages[].outcome`` -> ``["messages", "[]", "outcome"]``."""
    return [part for piece in field.split(".") for part in re.split(r"(\[\])", piece)
            if part]


def field_problem(napp: str, schema: Mapping[str, Any], field: str | list[str]) -> str | None:
    """Why ``field`` is not described by ``schema`` (None when it is)."""
    walked: list[str] = []
    for part in field_parts(field) if isinstance(field, str) else field:
        schema = _resolve(napp, schema)
        walked.append(part)
        where = ".".join(walked).replace(".[]", "[]")
        if part == "[]":
            if schema.get("type") != "array":
                return f"{where}: not an array in the schema"
            schema = schema.get("items", {})
            continue
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if part != "*" and part in properties:
            schema = properties[part]
        elif isinstance(extra, Mapping):
            schema = extra
        elif extra is True:
            schema = {}
        else:
            return f"{where}: not in the schema"
    return None
