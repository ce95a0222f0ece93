"""``bench/web.py`` end to end on a tiny store: it starts the server, loads the store, asks for
every kind of page, draws its graphs in Chromium and writes its JSON. A run of the benchmark is
long; this says in seconds that it still works, not how fast anything is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import web

pytestmark = pytest.mark.slow

if not web.CHROMIUM.exists():
    pytest.skip(f"{web.CHROMIUM} is missing: `make test` installs it", allow_module_level=True)


def test_the_web_benchmark_measures_every_page_and_the_graphs_and_writes_its_results(
    tmp_path: Path,
) -> None:
    tiny = ["--backend", "sqlite", "--events", "200", "--runs-per-job", "1"]
    quick = ["--requests", "2", "--warmup", "1", "--graph-jobs", "10", "--renders", "1"]
    assert web.main([*tiny, *quick, "--out", str(tmp_path)]) == 0

    result = json.loads((tmp_path / "web-sqlite-latest.json").read_text())
    assert result["store"]["rows"]["lineage_events"] >= 200
    pages = {page["page"]: page for page in result["pages"]}
    assert {"dashboard", "explorer page", "dataset", "job", "run", "search", "audit"} <= set(pages)
    for page in pages.values():
        assert page["errors"] == 0 and page["requests"] == 2, page
        if page["page"] != "explorer graph (API, depth 2)":
            assert page["server_timing_ms"]["p50"] > 0, page  # the page's own Server-Timing
    renders = {render["graph"]: render for render in result["renders"]}
    assert set(renders) == {"chain", "layered", "pipeline"}
    assert renders["chain"]["nodes_drawn"] == 21 and renders["layered"]["nodes_drawn"] == 21
    for render in renders.values():
        assert render["nodes_drawn"] == render["nodes_expected"] and not render["problems"]
        assert {"fetch", "layout", "draw", "ready"} <= set(render["phases_ms"]), render
    assert len(result["targets"]) == len(pages) + len(renders)
