"""Loading a pipeline project folder: ``headwater.yml``, ``sources/*.yml``, ``models/``.

Everything is checked at load time, before anything runs: unknown keys, bad values, model
headers, test declarations. Every problem is a `ProjectError` naming the file (and the line or
the key path) so a broken project never half-runs.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import sqlglot
import yaml

from headwater.config import OPERATIONS_SECTIONS
from headwater.lake import arrow_type
from headwater.pipeline.declarations import ProjectError, TestSpec, parse_tests

PROJECT_FILE = "headwater.yml"
# Data flows left to right; a model reads its own layer or an earlier one.
LAYERS = ("raw", "staging", "semantic", "analytics", "marts")
MODEL_LAYERS = LAYERS[1:]
Materialized = Literal["table", "append", "merge", "view"]
MATERIALIZATIONS: tuple[Materialized, ...] = ("table", "append", "merge", "view")
REWRITE_POLICIES = ("full_refresh", "fail")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# A config line is ``-- key: value``; any other leading comment is just a comment.
_COMMENT_LINE = re.compile(r"--.*$")
_CONFIG_LINE = re.compile(r"--\s*([a-z_]+\s*:.*)$")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    materialized: Materialized = "table"
    unique_key: tuple[str, ...] = ()
    incremental_on: tuple[str, ...] | None = None  # None: every input
    on_input_rewrite: str = "full_refresh"
    # merge only: a condition over the result marking rows whose key is to be deleted
    delete_when: str = ""
    # merge only: the column ordering versions of a row; an older one never replaces a newer
    sequence_by: str = ""
    # the columns every data file the model writes is sorted by (ascending, NULLs last), and
    # the Iceberg table's sort order: a time column keeps the rows of a day together, so
    # readers filtering by it, and merges re-reading recent rows, skip the other row groups
    sort_by: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""

    @property
    def incremental(self) -> bool:
        return self.materialized in ("append", "merge")


@dataclass(frozen=True, slots=True)
class SourceTable:
    name: str  # raw.<table>
    schema: pa.Schema
    path: Path
    description: str = ""
    tests: tuple[TestSpec, ...] = ()
    # ``files:`` / ``database:`` / ``api:`` as written: what `headwater.ingest` pulls into
    # this table (one of them at most)
    files: Mapping[str, Any] | None = None
    database: Mapping[str, Any] | None = None
    api: Mapping[str, Any] | None = None

    @property
    def layer(self) -> str:
        return "raw"


@dataclass(frozen=True, slots=True)
class WebhookDeclaration:
    """A source file's ``webhook:`` block, as written: `headwater.ingest` checks and uses it
    (the pipeline only needs the tables it declares)."""

    source: str  # the file's stem: deliveries are posted to /ingest/<source>/<topic>
    settings: Mapping[str, Any]
    path: Path
    tables: tuple[str, ...]  # raw.<table> names of the file


PythonModel = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Model:
    name: str  # <layer>.<model>
    path: Path
    config: ModelConfig
    sql: str | None  # the SELECT of a SQL model, header stripped
    sql_line: int  # line of the file where ``sql`` starts
    python: PythonModel | None = None
    python_inputs: tuple[str, ...] = ()
    tests: tuple[TestSpec, ...] = ()

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Project:
    root: Path
    name: str
    namespace: str
    warehouse: str | None
    threads: int
    retries: int
    sources: dict[str, SourceTable]
    models: dict[str, Model]
    settings: dict[str, Any] = field(default_factory=dict)
    webhooks: dict[str, WebhookDeclaration] = field(default_factory=dict)

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def _yaml(path: Path, root: Path) -> Any:
    label = _label(path, root)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{label}:{mark.line + 1}" if mark else label
        raise ProjectError(f"{where}: not valid YAML ({exc.problem})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{label}: cannot be read ({exc})") from None


def _label(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProjectError(f"{where}: must be a mapping, got {type(value).__name__}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ProjectError(f"{where}: must be a string or a list of strings")


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProjectError(f"{where}: must be a whole number from {low} to {high}")
    return value


def model_config(values: Mapping[str, Any], where: str, base: ModelConfig) -> ModelConfig:
    """``base`` updated by ``values`` (a header or the project's defaults), checked."""
    known = set(ModelConfig.__dataclass_fields__)
    for key in values:
        if key not in known:
            raise ProjectError(f"{where}: unknown model setting {key!r}; known: {sorted(known)}")
    materialized = values.get("materialized", base.materialized)
    if materialized not in MATERIALIZATIONS:
        raise ProjectError(
            f"{where}: materialized must be one of {', '.join(MATERIALIZATIONS)}, "
            f"got {materialized!r}"
        )
    policy = values.get("on_input_rewrite", base.on_input_rewrite)
    if policy not in REWRITE_POLICIES:
        raise ProjectError(
            f"{where}: on_input_rewrite must be one of {', '.join(REWRITE_POLICIES)}"
        )
    incremental_on = base.incremental_on
    if "incremental_on" in values:
        incremental_on = tuple(
            item.lower() for item in _strings(values["incremental_on"], f"{where}: incremental_on")
        )
    description = values.get("description", base.description)
    if not isinstance(description, str):
        raise ProjectError(f"{where}: description must be text")
    delete_when = values.get("delete_when", base.delete_when)
    if not isinstance(delete_when, str):
        raise ProjectError(f"{where}: delete_when must be an SQL condition, as text")
    sequence_by = values.get("sequence_by", base.sequence_by)
    if not isinstance(sequence_by, str):
        raise ProjectError(f"{where}: sequence_by must be a column name")
    config = ModelConfig(
        materialized=materialized,
        unique_key=(
            _strings(values["unique_key"], f"{where}: unique_key")
            if "unique_key" in values
            else base.unique_key
        ),
        incremental_on=incremental_on,
        on_input_rewrite=policy,
        delete_when=delete_when.strip(),
        sequence_by=sequence_by.strip(),
        sort_by=(
            _strings(values["sort_by"], f"{where}: sort_by")
            if "sort_by" in values
            else base.sort_by
        ),
        tags=_strings(values["tags"], f"{where}: tags") if "tags" in values else base.tags,
        description=description,
    )
    if config.materialized == "merge" and not config.unique_key:
        raise ProjectError(f"{where}: materialized: merge needs a unique_key")
    for setting in ("delete_when", "sequence_by"):
        if getattr(config, setting) and config.materialized != "merge":
            raise ProjectError(f"{where}: {setting} needs materialized: merge")
    if config.sort_by and config.materialized == "view":
        raise ProjectError(f"{where}: sort_by needs a stored model (a view stores no files)")
    if config.delete_when:
        try:
            sqlglot.parse_one(f"SELECT 1 WHERE {config.delete_when}", dialect="duckdb")
        except sqlglot.errors.ParseError as exc:
            message = exc.errors[0].get("description") if exc.errors else exc
            raise ProjectError(f"{where}: delete_when is not an SQL condition: {message}") from None
    return config


def _sql_header(text: str, where: str) -> tuple[dict[str, Any], int]:
    """The leading ``-- key: value`` lines as a mapping, and the line the SQL starts on."""
    header: list[str] = []
    lines = text.splitlines()
    start = 0
    for start, line in enumerate(lines):  # noqa: B007 - start is used after the loop
        stripped = line.strip()
        if stripped and not _COMMENT_LINE.match(stripped):
            break
        config = _CONFIG_LINE.match(stripped)
        # One entry per file line, so YAML's error lines are the file's lines.
        header.append(config[1] if config else "")
    else:
        start = len(lines)
    try:
        values = yaml.safe_load("\n".join(header)) if header else None
    except yaml.MarkedYAMLError as exc:
        at = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ProjectError(f"{where}:{at}: model header is not valid YAML") from None
    return _mapping(values, f"{where}: model header"), start + 1


def _load_python(path: Path, where: str) -> tuple[PythonModel, dict[str, Any], tuple[str, ...]]:
    spec = importlib.util.spec_from_file_location(f"headwater_model_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ProjectError(f"{where}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's module: any error is theirs to see
        raise ProjectError(f"{where}: importing it failed: {type(exc).__name__}: {exc}") from None
    function = getattr(module, "model", None)
    if not callable(function):
        raise ProjectError(f"{where}: defines no function model(inputs)")
    inputs = _strings(getattr(module, "INPUTS", []), f"{where}: INPUTS")
    return function, _mapping(getattr(module, "CONFIG", {}), f"{where}: CONFIG"), inputs


_PULLS = ("files", "database", "api")
_TABLE_KEYS = {"columns", "description", "tests", *_PULLS}


def _sources(root: Path) -> tuple[dict[str, SourceTable], dict[str, WebhookDeclaration]]:
    sources: dict[str, SourceTable] = {}
    webhooks: dict[str, WebhookDeclaration] = {}
    for path in sorted((root / "sources").glob("*.yml")):
        where = _label(path, root)
        document = _mapping(_yaml(path, root), where)
        unknown = set(document) - {"tables", "description", "webhook"}
        if unknown:
            raise ProjectError(
                f"{where}: unknown key {sorted(unknown)[0]!r}; known: description, tables, webhook"
            )
        tables = _mapping(document.get("tables"), f"{where}: tables")
        if "webhook" in document:
            webhooks[path.stem] = WebhookDeclaration(
                source=path.stem,
                settings=_mapping(document["webhook"], f"{where}: webhook"),
                path=path,
                tables=tuple(f"raw.{table}" for table in tables),
            )
        for table, spec in tables.items():
            key = f"{where}: tables.{table}"
            if not isinstance(table, str) or not _NAME.fullmatch(table):
                raise ProjectError(f"{key}: table names are lower-case letters, digits and _")
            spec = _mapping(spec, key)
            unknown = set(spec) - _TABLE_KEYS
            if unknown:
                raise ProjectError(
                    f"{key}: unknown key {sorted(unknown)[0]!r}; known: {', '.join(sorted(_TABLE_KEYS))}"
                )
            pulls = [pull for pull in _PULLS if pull in spec]
            if len(pulls) > 1:
                raise ProjectError(
                    f"{key}: {pulls[0]} and {pulls[1]} both fill this table; declare one way in"
                )
            fields = []
            for column, type_name in _mapping(spec.get("columns"), f"{key}.columns").items():
                try:
                    fields.append(pa.field(str(column), arrow_type(str(type_name))))
                except ValueError as exc:
                    raise ProjectError(f"{key}.columns.{column}: {exc}") from None
            if not fields:
                raise ProjectError(f"{key}: declares no columns")
            name = f"raw.{table}"
            if name in sources:
                raise ProjectError(f"{key}: {name} is declared twice")
            sources[name] = SourceTable(
                name=name,
                schema=pa.schema(fields),
                path=path,
                description=str(spec.get("description", "")),
                tests=parse_tests(spec.get("tests"), name, f"{key}.tests"),
                **{pull: _mapping(spec[pull], f"{key}.{pull}") for pull in pulls},
            )
    return sources, webhooks


def _models(root: Path, defaults: ModelConfig) -> dict[str, Model]:
    models: dict[str, Model] = {}
    models_dir = root / "models"
    for path in sorted([*models_dir.glob("*/*.sql"), *models_dir.glob("*/*.py")]):
        where = _label(path, root)
        layer = path.parent.name
        if layer not in MODEL_LAYERS:
            raise ProjectError(
                f"{where}: {layer!r} is not a layer; model folders are {', '.join(MODEL_LAYERS)}"
            )
        if not _NAME.fullmatch(path.stem):
            raise ProjectError(f"{where}: model names are lower-case letters, digits and _")
        name = f"{layer}.{path.stem}"
        if name in models:
            raise ProjectError(f"{where}: model {name} is defined twice (.sql and .py)")
        if path.suffix == ".sql":
            text = path.read_text(encoding="utf-8")
            header, line = _sql_header(text, where)
            sql = "\n".join(text.splitlines()[line - 1 :]).strip().rstrip(";")
            if not sql:
                raise ProjectError(f"{where}: holds no SELECT")
            models[name] = Model(
                name, path, model_config(header, where, defaults), sql=sql, sql_line=line
            )
        else:
            function, header, inputs = _load_python(path, where)
            if header.get("materialized") == "view":
                raise ProjectError(f"{where}: a Python model cannot be a view (it has no SQL)")
            models[name] = Model(
                name,
                path,
                model_config(header, where, defaults),
                sql=None,
                sql_line=1,
                python=function,
                python_inputs=tuple(item.lower() for item in inputs),
            )
    return models


def _attach_tests(root: Path, models: dict[str, Model]) -> dict[str, Model]:
    tests: dict[str, list[TestSpec]] = {}
    for path in sorted((root / "models").glob("*/*.yml")):
        where = _label(path, root)
        layer = path.parent.name
        document = _mapping(_yaml(path, root), where)
        unknown = set(document) - {"models"}
        if unknown:
            raise ProjectError(f"{where}: unknown key {sorted(unknown)[0]!r}; known: models")
        for model, spec in _mapping(document.get("models"), f"{where}: models").items():
            name = f"{layer}.{model}"
            key = f"{where}: models.{model}"
            if name not in models:
                raise ProjectError(f"{key}: there is no model {name}")
            spec = _mapping(spec, key)
            unknown = set(spec) - {"description", "columns", "tests"}
            if unknown:
                raise ProjectError(f"{key}: unknown key {sorted(unknown)[0]!r}")
            found = list(parse_tests(spec.get("tests"), name, f"{key}.tests"))
            for column, column_spec in _mapping(spec.get("columns"), f"{key}.columns").items():
                column_key = f"{key}.columns.{column}"
                column_spec = _mapping(column_spec, column_key)
                found.extend(
                    parse_tests(
                        column_spec.get("tests"), name, f"{column_key}.tests", column=str(column)
                    )
                )
            tests.setdefault(name, []).extend(found)
            if "description" in spec and not models[name].config.description:
                config = models[name].config
                models[name] = replace(
                    models[name],
                    config=model_config({"description": spec["description"]}, key, config),
                )
    return {
        name: replace(model, tests=tuple(tests.get(name, ()))) for name, model in models.items()
    }


# The operations sections (alerts, schedules) are read by `headwater.ops`, not the pipeline.
_PROJECT_KEYS = {
    "name",
    "namespace",
    "warehouse",
    "defaults",
    "threads",
    "retries",
    "settings",
    *OPERATIONS_SECTIONS,
}


def load_project(root: Path) -> Project:
    """Read and check the project in ``root``."""
    root = root.resolve()
    path = root / PROJECT_FILE
    if not path.is_file():
        raise ProjectError(f"{root}: no {PROJECT_FILE} here; is this a pipeline project?")
    document = _mapping(_yaml(path, root), PROJECT_FILE)
    unknown = set(document) - _PROJECT_KEYS
    if unknown:
        raise ProjectError(
            f"{PROJECT_FILE}: unknown key {sorted(unknown)[0]!r}; known: {sorted(_PROJECT_KEYS)}"
        )
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProjectError(f"{PROJECT_FILE}: name is required (the project's name)")
    namespace = document.get("namespace", name)
    if not isinstance(namespace, str) or not namespace.strip():
        raise ProjectError(f"{PROJECT_FILE}: namespace must be text")
    warehouse = document.get("warehouse")
    if warehouse is not None:
        if not isinstance(warehouse, str):
            raise ProjectError(f"{PROJECT_FILE}: warehouse must be a path or URI")
        if "://" not in warehouse:
            warehouse = str((root / warehouse).resolve())
    defaults = model_config(
        _mapping(document.get("defaults"), f"{PROJECT_FILE}: defaults"),
        f"{PROJECT_FILE}: defaults",
        ModelConfig(),
    )
    models = _attach_tests(root, _models(root, defaults))
    sources, webhooks = _sources(root)
    return Project(
        root=root,
        name=name,
        namespace=namespace,
        warehouse=warehouse,
        threads=_int(document.get("threads", 2), f"{PROJECT_FILE}: threads", 1, 64),
        retries=_int(document.get("retries", 2), f"{PROJECT_FILE}: retries", 0, 10),
        sources=sources,
        models=models,
        settings=_mapping(document.get("settings"), f"{PROJECT_FILE}: settings"),
        webhooks=webhooks,
    )
