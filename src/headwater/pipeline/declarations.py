"""Data-quality test declarations, as written in the project's YAML files.

A test is a list item: a bare name (``not_null``) or a one-key mapping whose value holds its
parameters (``accepted_values: {values: [a, b], severity: warn}``). ``expression`` and ``sql``
also take their query as a plain string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from headwater.errors import BadRequestError

SEVERITIES = ("error", "warn")
# kind -> (needs a column, required parameters, optional parameters)
KINDS: dict[str, tuple[bool, frozenset[str], frozenset[str]]] = {
    "not_null": (True, frozenset(), frozenset()),
    "unique": (True, frozenset(), frozenset()),
    "accepted_values": (True, frozenset({"values"}), frozenset()),
    "relationships": (True, frozenset({"to", "field"}), frozenset()),
    "row_count": (False, frozenset(), frozenset({"min", "max"})),
    "freshness": (True, frozenset({"max_age"}), frozenset()),
    "expression": (False, frozenset({"expression"}), frozenset()),
    "sql": (False, frozenset({"sql"}), frozenset()),
}
_COMMON = frozenset({"severity", "name", "column"})
_AGE = re.compile(r"(\d+)\s*([smhd])")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ProjectError(BadRequestError):
    """The project is malformed; the message names the file and line or key."""


@dataclass(frozen=True, slots=True)
class TestSpec:
    """One declared test of one table."""

    __test__ = False  # not a pytest test class, whatever its name

    name: str
    kind: str
    table: str
    column: str | None
    severity: str
    params: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # the file and key path it was declared at

    @property
    def max_age(self) -> timedelta:
        match = _AGE.fullmatch(str(self.params["max_age"]).strip())
        assert match is not None  # checked when parsed
        return timedelta(**{_AGE_UNITS[match[2]]: int(match[1])})


def _default_name(kind: str, column: str | None, params: dict[str, Any]) -> str:
    if kind == "expression":
        return f"expression({params['expression']})"
    if kind == "sql":
        return "sql"
    if kind == "relationships":
        return f"relationships({column} -> {params['to']}.{params['field']})"
    return f"{kind}({column})" if column else kind


def _check_params(kind: str, params: dict[str, Any], where: str) -> None:
    if kind == "accepted_values" and not isinstance(params["values"], list):
        raise ProjectError(f"{where}: values must be a list")
    if kind == "relationships" and not (
        isinstance(params["to"], str) and isinstance(params["field"], str)
    ):
        raise ProjectError(f"{where}: to and field must be a table and a column name")
    if kind == "row_count":
        for bound in ("min", "max"):
            value = params.get(bound)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ProjectError(f"{where}: {bound} must be a whole number")
    if kind == "freshness" and not _AGE.fullmatch(str(params["max_age"]).strip()):
        raise ProjectError(f"{where}: max_age must look like 30m, 12h or 3d")
    if kind in ("expression", "sql") and not (
        isinstance(params[kind], str) and params[kind].strip()
    ):
        raise ProjectError(f"{where}: {kind} must be a non-empty SQL text")


def _kind_and_parameters(item: Any, where: str) -> tuple[str, Any]:
    """A test's kind and its parameters, from any of the forms ``not_null``,
    ``{unique: {severity: warn}}``, ``{expression: "a > 0"}`` and, with the common parameters
    beside the kind, ``{expression: "a > 0", severity: warn}``."""
    raw: Any
    if isinstance(item, str):
        kind, raw = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        kind, raw = next(iter(item.items()))
    elif isinstance(item, dict):
        kinds = [key for key in item if key in KINDS]
        others = {key: value for key, value in item.items() if key not in KINDS}
        if len(kinds) != 1 or set(others) - _COMMON:
            raise ProjectError(
                f"{where}: a test is a name, or a mapping of one test kind "
                f"({', '.join(KINDS)}) with, beside it, severity, name or column"
            )
        kind, raw = kinds[0], item[kinds[0]]
        if kind in ("expression", "sql") and isinstance(raw, str):
            raw = {kind: raw}
        raw = {**(raw or {}), **others} if isinstance(raw, dict | None) else raw
    else:
        raise ProjectError(f"{where}: a test is a name or a mapping")
    if kind not in KINDS:
        raise ProjectError(f"{where}: unknown test {kind!r}; known: {', '.join(KINDS)}")
    if kind in ("expression", "sql") and isinstance(raw, str):
        raw = {kind: raw}
    return str(kind), {} if raw is None else raw


def parse_tests(
    value: Any, table: str, where: str, column: str | None = None
) -> tuple[TestSpec, ...]:
    """The tests declared at ``where`` (a list), for ``table`` (and ``column``, if any)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ProjectError(f"{where}: must be a list of tests")
    tests = []
    for index, item in enumerate(value):
        item_where = f"{where}[{index}]"
        kind, raw = _kind_and_parameters(item, item_where)
        needs_column, required, optional = KINDS[kind]
        if not isinstance(raw, dict):
            raise ProjectError(f"{item_where}: the parameters of {kind} must be a mapping")
        unknown = set(raw) - required - optional - _COMMON
        if unknown:
            raise ProjectError(f"{item_where}: {kind} has no parameter {sorted(unknown)[0]!r}")
        missing = required - set(raw)
        if missing:
            raise ProjectError(f"{item_where}: {kind} needs {sorted(missing)[0]!r}")
        params = {key: raw[key] for key in raw if key not in _COMMON}
        test_column = raw.get("column", column)
        if needs_column and not isinstance(test_column, str):
            raise ProjectError(f"{item_where}: {kind} needs a column")
        severity = raw.get("severity", "error")
        if severity not in SEVERITIES:
            raise ProjectError(f"{item_where}: severity must be error or warn")
        _check_params(kind, params, item_where)
        name = raw.get("name") or _default_name(kind, test_column, params)
        tests.append(
            TestSpec(
                name=str(name),
                kind=kind,
                table=table,
                column=test_column,
                severity=severity,
                params=params,
                where=item_where,
            )
        )
    return tuple(tests)
