"""The UI in a real headless Chromium (Debian's, driven by Playwright) against ``headwater
serve`` started as a real process on a free loopback port.

Specification: the lineage explorer draws the same nodes ``/api/v1/lineage`` returns for its
start, direction and depth; clicking a node opens its details with a link to its page, and
"Expand from here" adds that node's neighbourhood; finding by name marks the matches; "jobs
only" hides the datasets; a column's path is highlighted; every choice is kept in the URL, so
the URL reopens the same view. Pages load nothing from another host and log no errors.
Everything is reachable from the keyboard: a skip link first, then the header and the controls
in reading order, the graph as one Tab stop whose nodes the arrow keys walk, Enter or Space to
open a node, Escape to close it; keyboard focus is drawn. Every kind of page is saved as a
full-page screenshot for people to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.conftest import Backend, LiveServer, running_server
from tests.lineage.events_factory import dataset, run_event
from tests.web.shop_lineage import FAILED_RUN, post_history

CHROMIUM = Path("/usr/bin/chromium")
START = "dataset:warehouse:staging.orders"

if not CHROMIUM.exists():
    message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    if os.environ.get("CI") == "true":
        raise RuntimeError(message)
    pytest.skip(f"UI browser tests SKIPPED: {message}", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402


@pytest.fixture
def server(backend: Backend, tmp_path: Path) -> Iterator[LiveServer]:
    with running_server(backend, tmp_path) as live:
        with httpx.Client(base_url=live.url) as client:
            post_history(client)
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def problems() -> list[str]:
    """What the page logged as errors; each test's page must end with none."""
    return []


@pytest.fixture
def page(browser: Browser, server: LiveServer, problems: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    foreign: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    tab.on("console", console)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on(
        "request",
        lambda request: None if request.url.startswith(server.url) else foreign.append(request.url),
    )
    yield tab
    context.close()
    assert not problems, problems
    assert not foreign, foreign


def open_explorer(page: Page, server: LiveServer, query: str) -> None:
    page.goto(f"{server.url}/lineage?{query}")
    page.wait_for_selector("#graph[data-ready]")
    assert page.get_attribute("#graph", "data-ready") == "true", page.inner_text("#details")


def drawn(page: Page) -> set[str]:
    return set(page.eval_on_selector_all("#graph .node", "nodes => nodes.map(n => n.dataset.id)"))


def api_nodes(server: LiveServer, **params: Any) -> set[str]:
    answer = httpx.get(f"{server.url}/api/v1/lineage", params={"nodeId": START, **params})
    return {node["id"] for node in answer.json()["graph"]}


def url_state(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_the_explorer_draws_what_the_api_returns_for_each_direction_and_depth(
    page: Page, server: LiveServer
) -> None:
    open_explorer(page, server, f"node={START}&direction=both&depth=0")
    both = drawn(page)
    assert both == api_nodes(server, depth=0, direction="both")
    assert {"job:shop:etl.orders", "job:shop:etl.revenue", "job:shop:etl.broken"} <= both
    assert "job:shop:etl.slow" not in both  # two jobs away
    open_explorer(page, server, f"node={START}&direction=upstream&depth=2")
    assert drawn(page) == {START, "job:shop:etl.orders", "dataset:warehouse:raw.orders"}
    open_explorer(page, server, f"node={START}&direction=downstream&depth=2")
    assert "job:shop:etl.slow" in drawn(page)
    assert "dataset:warehouse:raw.orders" not in drawn(page)
    # The depth control says what a step is.
    assert "Depth counts jobs" in page.inner_text("#depth-hint")


def test_clicking_a_node_opens_it_and_expanding_adds_its_neighbourhood(
    page: Page, server: LiveServer
) -> None:
    open_explorer(page, server, f"node={START}&direction=downstream&depth=0")
    assert "job:shop:etl.slow" not in drawn(page)
    page.click('#graph .node[data-id="dataset:warehouse:marts.revenue"]')
    assert page.inner_text("#details h2") == "marts.revenue"
    link = page.get_attribute("#details a.open", "href")
    assert link == "/dataset?namespace=warehouse&name=marts.revenue"
    page.click("#details button")  # Expand from here
    page.wait_for_selector('#graph .node[data-id="job:shop:etl.slow"]')
    page.click("#details a.open")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "marts.revenue"


def test_find_jobs_only_and_column_mode_are_kept_in_the_url(page: Page, server: LiveServer) -> None:
    open_explorer(page, server, f"node={START}&depth=0")
    page.fill("#focus", "revenue")
    matches = page.eval_on_selector_all("#graph .node.match", "ns => ns.map(n => n.dataset.id)")
    assert set(matches) == {"job:shop:etl.revenue", "dataset:warehouse:marts.revenue"}
    assert url_state(page)["focus"] == ["revenue"]

    page.check("#jobs-only")
    datasets = {n for n in drawn(page) if n.startswith("dataset:")}
    assert datasets == {START}  # only where the view starts
    assert url_state(page)["jobs"] == ["1"]

    page.uncheck("#jobs-only")
    page.select_option("#column", "amount")
    page.wait_for_selector("#graph .node.path")
    on_path = set(page.eval_on_selector_all("#graph .node.path", "ns => ns.map(n => n.dataset.id)"))
    assert on_path == {START, "dataset:warehouse:raw.orders", "job:shop:etl.orders"}
    assert url_state(page)["column"] == ["amount"]

    # The URL as it now is opens the same view.
    shared = page.url
    page.goto("about:blank")
    page.goto(shared)
    page.wait_for_selector("#graph .node.path")
    assert page.input_value("#focus") == "revenue"
    assert page.eval_on_selector("#column", "s => s.value") == "amount"


def test_an_unknown_start_is_said_in_the_page(
    page: Page, server: LiveServer, problems: list[str]
) -> None:
    page.goto(f"{server.url}/lineage?node=dataset:warehouse:nope")
    page.wait_for_selector("#graph[data-ready]")
    assert "not found" in page.inner_text("#details [role=alert]")
    # The browser logs the API's 404 itself; that one is the point of this test.
    assert problems == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    problems.clear()


def test_every_page_renders_with_local_assets_only(page: Page, server: LiveServer) -> None:
    for path in ["/", "/datasets", "/jobs", "/job?namespace=shop&name=etl.orders", "/audit"]:
        page.goto(f"{server.url}{path}")
        assert page.locator("header.top nav a[aria-current=page]").count() == 1
    page.goto(f"{server.url}/jobs")
    page.select_option("select[name=namespace]", "shop")  # submits itself
    page.wait_for_url("**/jobs?namespace=shop")
    page.goto(f"{server.url}/")
    assert page.inner_text('[data-count="jobs"]') == "4"
    page.fill("header .search input", "broken")
    page.press("header .search input", "Enter")
    page.wait_for_load_state()
    page.click("text=etl.broken")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "etl.broken"


def test_a_graph_of_more_than_500_nodes_is_drawn_and_find_frames_the_match(
    page: Page, server: LiveServer
) -> None:
    # A chain of 260 jobs: step.0 reads chain.0 and writes chain.1, and so on (521 nodes).
    events = [
        run_event(
            "COMPLETE",
            job=f"step.{i}",
            namespace="big",
            inputs=[dataset(f"chain.{i}", "big")],
            outputs=[dataset(f"chain.{i + 1}", "big")],
        )
        for i in range(260)
    ]
    answer = httpx.post(f"{server.url}/api/v1/lineage/batch", json=events, timeout=60)
    assert answer.status_code == 200, answer.text
    open_explorer(page, server, "node=dataset:big:chain.0&direction=downstream&depth=300")
    assert len(drawn(page)) == 521
    whole = page.get_attribute("#graph", "viewBox")
    page.fill("#focus", "step.130")
    assert page.eval_on_selector_all("#graph .node.match", "ns => ns.map(n => n.dataset.id)") == [
        "job:big:step.130"
    ]
    framed = page.get_attribute("#graph", "viewBox")
    assert framed is not None and whole is not None
    # Framing the match zooms in: the view is a small part of the whole graph's width.
    assert float(framed.split()[2]) < float(whole.split()[2]) / 10
    page.check("#jobs-only")
    assert len(drawn(page)) == 261  # the jobs and the start


# Where the screenshots go: $HEADWATER_TEST_ARTIFACTS, else test-artifacts/screenshots/ in the
# checkout (ignored by git), for a reviewer or CI to look at.
SCREENSHOTS = Path(
    os.environ.get("HEADWATER_TEST_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
)
PAGE_KINDS = [  # (file name, path): every kind of page, on the fixture's history
    ("dashboard", "/"),
    ("lineage", f"/lineage?node={START}&direction=both&depth=1"),
    ("datasets", "/datasets"),
    ("dataset", "/dataset?namespace=warehouse&name=staging.orders"),
    ("jobs", "/jobs"),
    ("job", "/job?namespace=shop&name=etl.orders"),
    ("run", f"/run?id={FAILED_RUN}"),
    ("search", "/search?q=orders"),
    ("audit", "/audit"),
    ("login", "/login"),
]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height, from the header of a PNG file (its first chunk, IHDR)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_every_kind_of_page_is_saved_as_a_full_page_screenshot(
    page: Page, server: LiveServer, backend: Backend
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in PAGE_KINDS:
        answer = page.goto(f"{server.url}{path}")
        assert answer is not None and answer.status == 200, path
        if name == "lineage":
            page.wait_for_selector("#graph[data-ready=true]")
        target = SCREENSHOTS / f"{backend.name}-{name}.png"
        target.unlink(missing_ok=True)
        page.screenshot(path=target, full_page=True)
        width, height = png_size(target)
        assert width == 1400 and height >= 900, (name, width, height)
        # A page with its text and tables, not a blank or cut-off one (those compress to ~5 KB).
        assert target.stat().st_size > 20_000, (name, target.stat().st_size)


def test_the_api_pages_load_their_libraries_from_headwater(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.locator(".swagger-ui .opblock").count() > 30


def test_chromium_is_debians(browser: Browser) -> None:
    # Playwright's own browser builds cannot be downloaded here; this is the one it drives.
    assert shutil.which("chromium") == str(CHROMIUM)
    assert browser.version


# -- the keyboard ----------------------------------------------------------------------------

# What has the focus: a graph node's id, else an element's id, else its label or its text.
FOCUSED = """() => {
  const e = document.activeElement;
  return e.dataset?.id || e.id || e.getAttribute("aria-label") || e.textContent.trim();
}"""


def focused(page: Page) -> str:
    value = page.evaluate(FOCUSED)
    assert isinstance(value, str)
    return value


def tab_to(page: Page, stop: str) -> None:
    for _ in range(40):
        page.keyboard.press("Tab")
        if focused(page) == stop:
            return
    raise AssertionError(f"Tab never reached {stop!r}")


def outline(page: Page) -> str:
    value = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert isinstance(value, str)
    return value


def test_tab_reaches_the_skip_link_first_then_the_header_and_the_explorer_in_reading_order(
    page: Page, server: LiveServer
) -> None:
    open_explorer(page, server, f"node={START}&direction=both&depth=0")
    hidden = page.locator("a.skip").bounding_box()
    assert hidden is not None and hidden["y"] + hidden["height"] <= 0  # off screen until focused
    page.keyboard.press("Tab")
    assert focused(page) == "Skip to main content"
    box = page.locator("a.skip").bounding_box()
    assert box is not None and box["y"] >= 0
    assert outline(page) == "solid"
    page.keyboard.press("Enter")
    assert focused(page) == "main"
    page.keyboard.press("Tab")  # on from the main content, past the header
    assert focused(page) == "node"

    open_explorer(page, server, f"node={START}&direction=both&depth=0")
    stops = []
    for _ in range(21):
        page.keyboard.press("Tab")
        stops.append(focused(page))
    assert stops == [
        "Skip to main content",
        "headwater",
        "Dashboard",
        "Lineage",
        "Datasets",
        "Jobs",
        "Audit",
        "Search jobs and datasets",
        "node",
        "direction",
        "depth",
        "Show",
        "focus",
        "jobs-only",
        "column",
        "fit",
        START,  # the graph is one stop: its other nodes are reached with the arrow keys
        "Open the dataset",
        "Expand from here",
        "API",
        "metrics",
    ]

    # The form: the arrows pick a direction and a depth, Enter shows them.
    open_explorer(page, server, f"node={START}&direction=both&depth=0")
    tab_to(page, "direction")
    page.keyboard.press("ArrowDown")  # both -> upstream
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowUp")  # depth 0 -> 1
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#graph[data-ready]")
    assert url_state(page)["direction"] == ["upstream"] and url_state(page)["depth"] == ["1"]
    assert drawn(page) == {START, "job:shop:etl.orders", "dataset:warehouse:raw.orders"}

    tab_to(page, "Jobs")
    assert outline(page) == "solid"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.inner_text("h1") == "Jobs"


def test_the_arrow_keys_browse_the_namespace_picker_and_enter_shows_the_choice(
    page: Page, server: LiveServer
) -> None:
    """From the keyboard a closed select changes with every arrow key; the page waits for Enter
    (or the Show button) instead of reloading once per option passed."""
    page.goto(f"{server.url}/jobs")
    options = page.eval_on_selector_all(
        "select[name=namespace] option", "os => os.map(o => o.value)"
    )
    assert options[0] == "" and len(options) >= 3  # "all", then at least two namespaces
    loaded: list[str] = []
    page.on("framenavigated", lambda frame: loaded.append(urlparse(frame.url).query))
    page.focus("select[name=namespace]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.eval_on_selector("select[name=namespace]", "s => s.value") == options[2]
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert loaded == [f"namespace={options[2]}"]

    page.focus("select[name=namespace]")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Tab")
    assert focused(page) == "Show"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert loaded == [f"namespace={options[2]}", f"namespace={options[1]}"]


def test_the_explorer_is_operated_from_the_keyboard(page: Page, server: LiveServer) -> None:
    open_explorer(page, server, f"node={START}&direction=both&depth=0")
    tab_to(page, "focus")
    page.keyboard.type("revenue")
    matches = page.eval_on_selector_all("#graph .node.match", "ns => ns.map(n => n.dataset.id)")
    assert set(matches) == {"job:shop:etl.revenue", "dataset:warehouse:marts.revenue"}
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")

    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert {n for n in drawn(page) if n.startswith("dataset:")} == {START}
    page.keyboard.press("Space")
    assert "dataset:warehouse:marts.revenue" in drawn(page)

    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # the first field: id
    page.wait_for_selector("#graph .node.path")
    on_path = set(page.eval_on_selector_all("#graph .node.path", "ns => ns.map(n => n.dataset.id)"))
    assert on_path == {START, "dataset:warehouse:raw.orders", "job:shop:etl.orders"}
    assert url_state(page)["column"] == ["id"]

    # The graph: the start has the Tab stop, its focus is drawn, the arrows follow the layout
    # (raw.orders -> etl.orders -> staging.orders -> etl.revenue, etl.broken -> marts.revenue).
    tab_to(page, START)
    dashes = page.evaluate(
        "() => getComputedStyle(document.activeElement.firstChild).strokeDasharray"
    )
    assert dashes not in ("", "none")
    page.keyboard.press("ArrowLeft")
    assert focused(page) == "job:shop:etl.orders"
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert focused(page) == "dataset:warehouse:marts.revenue"
    assert (
        page.get_attribute("#graph .node[data-id='dataset:warehouse:marts.revenue']", "aria-label")
        == "dataset marts.revenue"
    )
    page.keyboard.press("Enter")
    assert page.inner_text("#details h2") == "marts.revenue"

    # Into the panel: Expand from here adds the neighbourhood and gives the node the focus back.
    page.keyboard.press("Tab")
    assert focused(page) == "Open the dataset"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector('#graph .node[data-id="job:shop:etl.slow"]')
    assert focused(page) == "dataset:warehouse:marts.revenue"

    # Escape in the panel closes it and returns to the node; Space opens it again.
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    assert page.locator("#details h2").count() == 0
    assert focused(page) == "dataset:warehouse:marts.revenue"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.inner_text("h1") == "marts.revenue"
