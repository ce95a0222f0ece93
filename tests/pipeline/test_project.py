"""Loading a project: the format of docs/pipelines.md, and errors that name file and line.

Specification: every problem in a project is found when it is loaded, before anything runs,
and reported as one message naming the file (and the line, or the key path).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.pipeline import ProjectError, build_graph, load_project
from tests.pipeline.projects import MODELS, write_project


def _error(tmp_path: Path, files: dict[str, str]) -> str:
    root = write_project(tmp_path / "p", files)
    with pytest.raises(ProjectError) as caught:
        build_graph(load_project(root))
    return caught.value.message


def test_the_sample_project_loads_with_config_tests_and_order(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p"))
    graph = build_graph(project)
    assert project.name == "shoptest" and project.namespace == "shoptest"
    assert list(project.sources) == ["raw.orders"]
    staging = project.models["staging.stg_orders"]
    assert staging.config.materialized == "merge"
    assert staging.config.unique_key == ("event_id",)
    assert staging.config.tags == ("orders",)
    assert staging.sql is not None and staging.sql.startswith("SELECT event_id")
    assert staging.sql_line == 4
    assert [t.name for t in project.models["marts.totals"].tests] == [
        "row_count",
        "not_null(orders)",
    ] or [t.name for t in project.models["marts.totals"].tests] == [
        "not_null(orders)",
        "row_count",
    ]
    assert graph.order == ("staging.stg_orders", "analytics.order_log", "marts.totals")
    assert graph.inputs["analytics.order_log"] == ("staging.stg_orders",)


def test_an_unknown_table_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        {"staging/a.sql": "SELECT *\nFROM raw.orders\nJOIN raw.nope USING (order_id)\n"},
    )
    assert message.startswith("models/staging/a.sql:3: unknown table raw.nope")


def test_a_table_without_layer_is_refused_but_ctes_are_not_tables(tmp_path: Path) -> None:
    fine = {"staging/a.sql": "WITH x AS (SELECT * FROM raw.orders)\nSELECT * FROM x\n"}
    build_graph(load_project(write_project(tmp_path / "ok", fine)))
    message = _error(tmp_path, {"staging/a.sql": "SELECT * FROM orders\n"})
    assert "models/staging/a.sql" not in message or "a.sql:1" in message
    assert "table 'orders' has no layer" in message


def test_a_cycle_names_the_models_in_data_flow_order(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        {
            "staging/a.sql": "SELECT * FROM raw.orders\nUNION ALL SELECT * FROM staging.b\n",
            "staging/b.sql": "-- tags: [x]\nSELECT * FROM staging.a\n",
        },
    )
    assert "cycle" in message
    assert message.startswith(("models/staging/a.sql:2", "models/staging/b.sql:2"))
    assert "staging.a -> staging.b -> staging.a" in message or (
        "staging.b -> staging.a -> staging.b" in message
    )


def test_a_model_cannot_read_a_later_layer(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        {
            "staging/a.sql": "SELECT * FROM marts.m\n",
            "marts/m.sql": "SELECT * FROM raw.orders\n",
        },
    )
    assert message == (
        "models/staging/a.sql:1: staging.a is in layer staging and cannot read marts.m "
        "of the later layer marts"
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"staging/a.sql": "-- materialized: stream\nSELECT 1\n"}, "materialized must be one of"),
        ({"staging/a.sql": "-- materialized: merge\nSELECT 1\n"}, "merge needs a unique_key"),
        ({"staging/a.sql": "-- colour: blue\nSELECT 1\n"}, "unknown model setting 'colour'"),
        (
            {"staging/a.sql": "-- materialized: view\n-- sort_by: [x]\nSELECT 1 AS x\n"},
            "a.sql: sort_by needs a stored model",
        ),
        (
            {"staging/a.sql": "-- sort_by: 7\nSELECT 1 AS x\n"},
            "sort_by: must be a string or a list",
        ),
        ({"staging/a.sql": "-- tags: [a\nSELECT 1\n"}, "a.sql:1: model header is not valid YAML"),
        ({"staging/a.sql": "SELEC 1 FROM\n"}, "a.sql:1: SQL does not parse"),
        ({"staging/a.sql": "INSERT INTO x VALUES (1)\n"}, "exactly one SELECT"),
        ({"bronze/a.sql": "SELECT 1\n"}, "'bronze' is not a layer"),
        (
            {"staging/a.sql": "SELECT 1\n", "staging/t.yml": "models:\n  b: {}\n"},
            "models/staging/t.yml: models.b: there is no model staging.b",
        ),
        (
            {
                "staging/a.sql": "SELECT 1 AS x\n",
                "staging/t.yml": "models:\n  a:\n    columns:\n      x:\n        tests: [uniq]\n",
            },
            "models.a.columns.x.tests[0]: unknown test 'uniq'",
        ),
        (
            {
                "staging/a.sql": "SELECT 1 AS x\n",
                "staging/t.yml": "models:\n  a:\n    tests: [{freshness: {max_age: 3d}}]\n",
            },
            "freshness needs a column",
        ),
        (
            {"staging/a.sql": "SELECT 1\n", "staging/t.yml": "models: [\n"},
            "models/staging/t.yml:2: not valid YAML",
        ),
        (
            {"/sources/bad.yml": "tables:\n  x:\n    columns: {a: money}\n"},
            "sources/bad.yml: tables.x.columns.a: unknown type 'money'",
        ),
        (
            {
                "/sources/bad.yml": (
                    "tables:\n  x:\n    files: {folder: drop}\n    api: {url: http://a}\n"
                    "    columns: {a: long}\n"
                )
            },
            "sources/bad.yml: tables.x: files and api both fill this table; declare one way in",
        ),
        (
            {
                "staging/a.sql": "-- materialized: append\n-- incremental_on: [raw.x]\nSELECT * FROM raw.orders\n",
            },
            "incremental_on names raw.x, which the model does not read",
        ),
    ],
)
def test_malformed_projects_are_refused_with_the_place_of_the_problem(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    assert expected in _error(tmp_path, files)


def test_a_project_file_needs_a_name_and_refuses_unknown_keys(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", MODELS)
    (root / "headwater.yml").write_text("namespace: x\n")
    with pytest.raises(ProjectError, match="name is required"):
        load_project(root)
    (root / "headwater.yml").write_text("name: x\nthreds: 2\n")
    with pytest.raises(ProjectError, match="unknown key 'threds'"):
        load_project(root)
    with pytest.raises(ProjectError, match=r"no headwater\.yml here"):
        load_project(tmp_path)


def test_python_models_declare_inputs_and_config(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        {
            "semantic/counted.py": (
                'INPUTS = ["raw.orders"]\nCONFIG = {"materialized": "table", "tags": ["py"]}\n\n'
                "def model(inputs):\n"
                '    return inputs["raw.orders"].aggregate("count(*) AS n")\n'
            )
        },
    )
    project = load_project(root)
    graph = build_graph(project)
    assert graph.inputs["semantic.counted"] == ("raw.orders",)
    assert project.models["semantic.counted"].config.tags == ("py",)
    broken = write_project(tmp_path / "q", {"semantic/broken.py": "def model(:\n"})
    with pytest.raises(
        ProjectError, match=r"semantic/broken\.py: importing it failed: SyntaxError"
    ):
        load_project(broken)


SELECTION_MODELS = {
    "staging/a.sql": "-- tags: [core]\nSELECT * FROM raw.orders\n",
    "staging/b.sql": "SELECT * FROM raw.orders\n",
    "analytics/c.sql": "-- tags: [core]\nSELECT * FROM staging.a JOIN staging.b USING (event_id)\n",
    "marts/d.sql": "SELECT * FROM analytics.c\n",
}


@pytest.mark.parametrize(
    ("selectors", "chosen"),
    [
        ([], ["a", "b", "c", "d"]),
        (["c"], ["c"]),
        (["+c"], ["a", "b", "c"]),
        (["c+"], ["c", "d"]),
        (["+c+"], ["a", "b", "c", "d"]),
        (["staging.a+"], ["a", "c", "d"]),
        (["layer:staging"], ["a", "b"]),
        (["tag:core"], ["a", "c"]),
        (["tag:core,layer:analytics"], ["c"]),
        (["a d"], ["a", "d"]),
        (["a", "d"], ["a", "d"]),
        (["raw.orders+"], ["a", "b", "c", "d"]),
    ],
)
def test_selection_is_dbt_style(tmp_path: Path, selectors: list[str], chosen: list[str]) -> None:
    graph = build_graph(load_project(write_project(tmp_path / "p", SELECTION_MODELS)))
    names = [name.split(".", 1)[1] for name in graph.select(selectors)]
    assert sorted(names) == chosen
    assert graph.select(selectors) == [n for n in graph.order if n in graph.select(selectors)]


@pytest.mark.parametrize(
    ("selector", "message"),
    [("zzz", "no model or source is called 'zzz'"), ("layer:gold", "unknown layer")],
)
def test_a_selector_that_matches_nothing_known_is_an_error(
    tmp_path: Path, selector: str, message: str
) -> None:
    graph = build_graph(load_project(write_project(tmp_path / "p", SELECTION_MODELS)))
    with pytest.raises(ProjectError, match=message):
        graph.select([selector])
