"""What headwater reads out of standard facets; every facet is also kept whole as sent."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def stable_hash(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def schema_fields(facets: dict[str, Any]) -> list[dict[str, Any]]:
    """Marquez's field shape (name, type, tags, description) from the schema facet."""
    schema = facets.get("schema") or {}
    fields = []
    for item in schema.get("fields") or []:
        fields.append(
            {
                "name": item["name"],
                "type": item.get("type"),
                "tags": [],
                "description": item.get("description"),
            }
        )
    return fields


def version_facet(facets: dict[str, Any]) -> str | None:
    """The producer's own version of a dataset (DatasetVersionDatasetFacet), e.g. a snapshot id."""
    value = (facets.get("version") or {}).get("datasetVersion")
    return None if value is None else str(value)


def description(facets: dict[str, Any]) -> str | None:
    value = (facets.get("documentation") or {}).get("description")
    return value if isinstance(value, str) else None


def lifecycle_state(facets: dict[str, Any]) -> str | None:
    value = (facets.get("lifecycleStateChange") or {}).get("lifecycleStateChange")
    return value if isinstance(value, str) else None


def data_source(facets: dict[str, Any]) -> tuple[str, str] | None:
    """(name, uri) from the dataSource facet."""
    facet = facets.get("dataSource") or {}
    name, uri = facet.get("name"), facet.get("uri")
    if not isinstance(name, str) or not name:
        return None
    return name, uri if isinstance(uri, str) else name


def source_type(uri: str) -> str:
    scheme = uri.split(":", 1)[0] if ":" in uri else uri
    return scheme.upper()[:64] or "UNKNOWN"


def job_location(facets: dict[str, Any]) -> str | None:
    value = (facets.get("sourceCodeLocation") or {}).get("url")
    return value if isinstance(value, str) else None


def job_type(facets: dict[str, Any]) -> str:
    processing = (facets.get("jobType") or {}).get("processingType")
    return "STREAM" if processing == "STREAMING" else "BATCH"


def column_lineage_rows(facets: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (output field, input field) from the columnLineage facet.

    The facet lists several transformations per input field (Spark sends DIRECT + INDIRECT);
    the row keeps them all and surfaces the first DIRECT one (else the first) as the field's
    transformation, which is what Marquez's column-lineage graph shows.
    """
    rows = []
    fields = (facets.get("columnLineage") or {}).get("fields") or {}
    for out_field, spec in fields.items():
        for item in spec.get("inputFields") or []:
            transformations = [t for t in item.get("transformations") or [] if isinstance(t, dict)]
            if not transformations and spec.get("transformationType"):
                # Facet 1-0-x put one transformation on the output field itself.
                transformations = [
                    {
                        "type": spec.get("transformationType"),
                        "subtype": None,
                        "description": spec.get("transformationDescription"),
                    }
                ]
            main = next((t for t in transformations if t.get("type") == "DIRECT"), None)
            main = main or (transformations[0] if transformations else {})
            rows.append(
                {
                    "output_field": out_field,
                    "input_namespace": item["namespace"],
                    "input_name": item["name"],
                    "input_field": item["field"],
                    "transformation_type": main.get("type"),
                    "transformation_subtype": main.get("subtype"),
                    "transformation_description": main.get("description"),
                    "transformations": transformations,
                }
            )
    return rows
