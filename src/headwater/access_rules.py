"""Which role each route needs: the one table access control reads (`headwater.auth`).

Every route the app serves must be listed, by method and path template; one that is not is
refused with 403 and fails ``tests/auth/test_route_matrix.py``. Reading needs ``reader``;
sending lineage and editing tags and namespaces ``writer``; deletes ``admin``. Health, the
audit checkpoint (its public key must be fetchable by outside auditors) and the API
description are public.
"""

from __future__ import annotations

from headwater.auth import Open, Role, Rules
from headwater.web.pages import PAGES

_NS = "/api/v1/namespaces/{namespace}"
_DATASET = f"{_NS}/datasets/{{dataset}}"
_JOB = f"{_NS}/jobs/{{job}}"

ROUTE_RULES: Rules = {
    # public
    ("GET", "/api/v1/health"): Open.PUBLIC,
    ("GET", "/health/ready"): Open.PUBLIC,
    ("GET", "/api/v1/audit/checkpoint"): Open.PUBLIC,
    ("GET", "/openapi.json"): Open.PUBLIC,
    ("GET", "/docs"): Open.PUBLIC,
    # the UI's own scripts, styles and icon (its pages read data, so they need a reader), and
    # signing in and out (the token is checked by the sign-in itself)
    ("GET", "/static/{path:path}"): Open.PUBLIC,
    ("GET", "/login"): Open.PUBLIC,
    ("POST", "/login"): Open.PUBLIC,
    ("POST", "/logout"): Open.PUBLIC,
    # webhooks: each delivery is checked against its source's signature, not a token
    ("POST", "/ingest/{source}/{topic}"): Open.SIGNED,
    # lineage ingestion
    ("POST", "/api/v1/lineage"): Role.WRITER,
    ("POST", "/api/v1/lineage/batch"): Role.WRITER,
    # reads
    ("GET", "/metrics"): Role.READER,
    ("GET", "/api/v1/lineage"): Role.READER,
    ("GET", "/api/v1/column-lineage"): Role.READER,
    ("GET", "/api/v1/namespaces"): Role.READER,
    ("GET", _NS): Role.READER,
    ("GET", "/api/v1/sources"): Role.READER,
    ("GET", "/api/v1/sources/{source}"): Role.READER,
    ("GET", "/api/v1/tags"): Role.READER,
    ("GET", f"{_NS}/datasets"): Role.READER,
    ("GET", _DATASET): Role.READER,
    ("GET", f"{_DATASET}/versions"): Role.READER,
    ("GET", f"{_DATASET}/versions/{{version}}"): Role.READER,
    ("GET", "/api/v1/jobs"): Role.READER,
    ("GET", f"{_NS}/jobs"): Role.READER,
    ("GET", _JOB): Role.READER,
    ("GET", f"{_JOB}/runs"): Role.READER,
    ("GET", f"{_JOB}/versions"): Role.READER,
    ("GET", f"{_JOB}/versions/{{version}}"): Role.READER,
    ("GET", "/api/v1/jobs/runs/{run_id}"): Role.READER,
    ("GET", "/api/v1/jobs/runs/{run_id}/facets"): Role.READER,
    ("GET", "/api/v1/events/lineage"): Role.READER,
    ("GET", "/api/v1/search"): Role.READER,
    ("GET", "/api/v1/audit"): Role.READER,
    ("GET", "/api/v1/audit/proof/inclusion"): Role.READER,
    ("GET", "/api/v1/audit/proof/consistency"): Role.READER,
    ("GET", "/api/v1/audit/history"): Role.READER,
    # the web UI's pages
    **dict.fromkeys((("GET", page) for page in PAGES), Role.READER),
    # metadata edits
    ("PUT", _NS): Role.WRITER,
    ("PUT", "/api/v1/tags/{tag}"): Role.WRITER,
    ("POST", f"{_DATASET}/tags/{{tag}}"): Role.WRITER,
    ("DELETE", f"{_DATASET}/tags/{{tag}}"): Role.WRITER,
    ("POST", f"{_DATASET}/fields/{{field}}/tags/{{tag}}"): Role.WRITER,
    ("DELETE", f"{_DATASET}/fields/{{field}}/tags/{{tag}}"): Role.WRITER,
    ("POST", f"{_JOB}/tags/{{tag}}"): Role.WRITER,
    ("DELETE", f"{_JOB}/tags/{{tag}}"): Role.WRITER,
    # deletes
    ("DELETE", _NS): Role.ADMIN,
    ("DELETE", _DATASET): Role.ADMIN,
    ("DELETE", _JOB): Role.ADMIN,
}
