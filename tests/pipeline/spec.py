"""Validation of emitted events against the OpenLineage spec in shared/reference: the core
schema, and each facet against the standard facet schema its key names."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
from referencing import Registry, Resource

from tests.conftest import REFERENCE


@cache
def _schemas() -> tuple[Registry[Any], dict[str, str], str]:
    """The registry of every spec schema, facet key -> $ref of its definition, the core $id."""
    spec = REFERENCE / "openlineage-spec"
    core = json.loads((spec / "OpenLineage.json").read_text())
    documents = [core]
    facets: dict[str, str] = {}
    for path in sorted((spec / "facets").glob("*.json")):
        schema = json.loads(path.read_text())
        documents.append(schema)
        for key, value in schema.get("properties", {}).items():
            if "$ref" in value:  # LineageFacet's anyOf names no single definition
                facets[key] = schema["$id"] + value["$ref"]
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in documents
    )
    return registry, facets, core["$id"]


def _validate(instance: Any, ref: str) -> list[str]:
    registry, _facets, _core = _schemas()
    validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=registry)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def _facet_groups(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    groups = [("run", event["run"].get("facets", {})), ("job", event["job"].get("facets", {}))]
    for side in ("inputs", "outputs"):
        for index, dataset in enumerate(event.get(side, [])):
            groups.append((f"{side}[{index}]", dataset.get("facets", {})))
            io_key = "inputFacets" if side == "inputs" else "outputFacets"
            groups.append((f"{side}[{index}].{io_key}", dataset.get(io_key, {})))
    return groups


def spec_errors(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` breaks the spec; a facet that is not standard is an error too."""
    _registry, facets, core = _schemas()
    errors = _validate(event, f"{core}#/$defs/RunEvent")
    for where, group in _facet_groups(event):
        for key, facet in group.items():
            if key not in facets:
                errors.append(f"{where}.{key}: not a standard facet")
                continue
            errors.extend(f"{where}.{key}: {e}" for e in _validate(facet, facets[key]))
    return errors


def facet_keys(event: dict[str, Any]) -> set[str]:
    return {key for _where, group in _facet_groups(event) for key in group}
