// The lineage explorer: draws /api/v1/lineage as a layered graph (dagre), left to right in the
// direction data flows. Everything the view shows is in the page's URL (node, direction, depth,
// column, focus, jobs), so a link to it opens the same view.
import { graphlib, layout } from "/static/vendor/dagre.esm.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 200;
const NODE_H = 36;
// dagre's default ranker (network simplex) makes the shortest edges but grows fast with the
// graph: in headless Chromium here 1.2-1.4 s of a 2 s budget for a 1,001-node layered graph and
// 0.8 s for a 412-node pipeline of the benchmark store, against 0.2 s with "tight-tree" (its
// starting point), which put every node of those graphs in the same column (bench/web.py).
// Small graphs keep the network simplex: it is the better ranking, and it takes milliseconds.
const TIGHT_TREE_FROM = 100;
const state = JSON.parse(document.getElementById("explorer-state").textContent);
const url = new URL(window.location.href);
state.focus = url.searchParams.get("focus") || "";
state.jobsOnly = url.searchParams.get("jobs") === "1";

const svg = document.getElementById("graph");
const details = document.getElementById("details");
const status = document.getElementById("status");
let nodes = new Map(); // id -> Marquez node
let view = { x: 0, y: 0, w: 800, h: 500 }; // the SVG viewBox: pan and zoom move it
let extent = { w: 800, h: 500 };
let highlighted = new Set(); // nodes on the chosen column's path
let boxes = new Map(); // id -> the centre of its drawn box, for the arrow keys and reveal()
// The graph is one stop of the Tab order (a roving tabindex): this node has tabindex 0, the
// others -1, and the arrow keys move between them, so Tab never walks through 1,000 nodes.
let active = null;
let shown = null; // the node whose details the panel shows

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A dataset named by its storage path (Iceberg tables by location: /warehouse/staging/orders)
// is shown by its table name, from its symlinks facet or else the path's last two parts.
function label(node) {
  const name = node.data?.name ?? node.id;
  if (node.type === "JOB" || !name.includes("/")) return name;
  const alias = node.data?.facets?.symlinks?.identifiers?.[0]?.name;
  if (alias) return alias;
  return name.split("/").filter(Boolean).slice(-2).join(".");
}

function shareUrl() {
  const next = new URL("/lineage", window.location.origin);
  next.searchParams.set("node", state.node);
  next.searchParams.set("direction", state.direction);
  next.searchParams.set("depth", String(state.depth));
  if (state.column) next.searchParams.set("column", state.column);
  if (state.focus) next.searchParams.set("focus", state.focus);
  if (state.jobsOnly) next.searchParams.set("jobs", "1");
  window.history.replaceState(null, "", next);
}

async function getJson(path) {
  const answer = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(body.message || `${answer.status} ${answer.statusText}`);
  return body;
}

// Jobs only: each dataset is replaced by edges from the jobs writing it to the jobs reading it.
function visibleEdges() {
  const edges = [];
  for (const node of nodes.values()) {
    for (const edge of node.outEdges) {
      if (nodes.has(edge.destination)) edges.push([edge.origin, edge.destination]);
    }
  }
  if (!state.jobsOnly) return edges;
  const jobEdges = new Set();
  for (const node of nodes.values()) {
    if (node.type === "JOB") continue;
    const writers = node.inEdges.map((e) => e.origin).filter((id) => nodes.has(id));
    const readers = node.outEdges.map((e) => e.destination).filter((id) => nodes.has(id));
    for (const w of writers) for (const r of readers) jobEdges.add(`${w}\u0000${r}`);
  }
  return [...jobEdges].map((key) => key.split("\u0000"));
}

function draw() {
  const began = performance.now();
  svg.replaceChildren();
  const g = new graphlib.Graph();
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes.values()) {
    if (state.jobsOnly && node.type !== "JOB" && node.id !== state.node) continue;
    g.setNode(node.id, { width: NODE_W, height: NODE_H });
  }
  const ranker = g.nodeCount() < TIGHT_TREE_FROM ? "network-simplex" : "tight-tree";
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 70, marginx: 20, marginy: 20, ranker });
  for (const [from, to] of visibleEdges()) {
    if (g.hasNode(from) && g.hasNode(to)) g.setEdge(from, to);
  }
  layout(g);
  performance.measure("explorer:layout", { start: began });
  const drawing = performance.now();
  extent = { w: g.graph().width || 800, h: g.graph().height || 500 };
  const defs = el("defs");
  const marker = el("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
    markerWidth: "6", markerHeight: "6", orient: "auto-start-reverse",
  });
  marker.append(el("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
  defs.append(marker);
  svg.append(defs);
  const edgeLayer = el("g", { class: "edges" });
  const nodeLayer = el("g", { class: "nodes" });
  svg.append(edgeLayer, nodeLayer);
  const focus = state.focus.toLowerCase();
  for (const e of g.edges()) {
    const points = g.edge(e).points;
    const d = points.map((p, i) => `${i ? "L" : "M"} ${p.x} ${p.y}`).join(" ");
    const onPath = highlighted.has(e.v) && highlighted.has(e.w);
    edgeLayer.append(el("path", { d, class: onPath ? "edge path" : "edge", "marker-end": "url(#arrow)" }));
  }
  boxes = new Map(g.nodes().map((id) => [id, { x: g.node(id).x, y: g.node(id).y }]));
  const matches = focus ? g.nodes().filter((id) => label(nodes.get(id)).toLowerCase().includes(focus)) : [];
  const matched = new Set(matches);
  // The Tab stop stays where the keyboard left it; else the first match, else the start.
  if (!boxes.has(active)) active = matches[0] ?? (boxes.has(state.node) ? state.node : g.nodes()[0]);
  for (const id of g.nodes()) {
    const box = g.node(id);
    const node = nodes.get(id);
    const classes = ["node", node.type === "JOB" ? "job" : "dataset"];
    if (id === state.node) classes.push("start");
    if (matched.has(id)) classes.push("match");
    if (highlighted.has(id)) classes.push("path");
    if (node.type === "JOB" && node.data?.latestRun?.state === "FAILED") classes.push("failed");
    const group = el("g", {
      class: classes.join(" "),
      transform: `translate(${box.x - NODE_W / 2}, ${box.y - NODE_H / 2})`,
      tabindex: id === active ? "0" : "-1",
      role: "button",
      "data-id": id,
      "aria-label": describe(node),
    });
    group.append(el("rect", { width: NODE_W, height: NODE_H, rx: node.type === "JOB" ? 4 : 14 }));
    const text = label(node);
    group.append(el("text", { x: 10, y: 22 }, text.length > 28 ? `${text.slice(0, 27)}…` : text));
    group.append(el("title", {}, id));
    nodeLayer.append(group);
  }
  fit(matches, g);
  performance.measure("explorer:draw", { start: drawing });
}

// What a screen reader says for a node: its kind, its name, and a failed latest run.
function describe(node) {
  const kind = node.type === "JOB" ? "job" : "dataset";
  const failed = node.type === "JOB" && node.data?.latestRun?.state === "FAILED";
  return `${kind} ${label(node)}${failed ? ", latest run failed" : ""}`;
}

function nodeElement(id) {
  return svg.querySelector(`.node[data-id="${CSS.escape(id)}"]`);
}

// Moves the Tab stop (and the focus) to a drawn node, panning the view to it if needed.
function focusNode(id) {
  const target = nodeElement(id);
  if (!target) return;
  nodeElement(active)?.setAttribute("tabindex", "-1");
  target.setAttribute("tabindex", "0");
  active = id;
  reveal(id);
  target.focus();
}

// The node an arrow key leads to, by the drawn layout: left and right go to the nearest
// column (rank) that way and the node there closest in height, up and down along the column.
function neighbour(id, key) {
  const here = boxes.get(id);
  const horizontal = key === "ArrowLeft" || key === "ArrowRight";
  const sign = key === "ArrowRight" || key === "ArrowDown" ? 1 : -1;
  const along = (box) => sign * (horizontal ? box.x - here.x : box.y - here.y);
  const across = (box) => Math.abs(horizontal ? box.y - here.y : box.x - here.x);
  let candidates = [...boxes].filter(([other, box]) => other !== id && along(box) > 1);
  if (horizontal) {
    const nearest = Math.min(...candidates.map(([, box]) => along(box)));
    candidates = candidates.filter(([, box]) => along(box) < nearest + 1);
  } else {
    candidates = candidates.filter(([, box]) => across(box) < 1);
  }
  const score = (box) => (horizontal ? across(box) : along(box));
  candidates.sort((a, b) => score(a[1]) - score(b[1]));
  return candidates[0]?.[0] ?? null;
}

function reveal(id) {
  const box = boxes.get(id);
  const inside = box.x - NODE_W / 2 >= view.x && box.x + NODE_W / 2 <= view.x + view.w
    && box.y - NODE_H / 2 >= view.y && box.y + NODE_H / 2 <= view.y + view.h;
  if (inside) return;
  view = { ...view, x: box.x - view.w / 2, y: box.y - view.h / 2 };
  svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
}

function fit(ids = [], g = null) {
  if (ids.length && g) {
    // Search-to-focus: frame the matches (with some room around them), not the whole graph.
    const framed = ids.map((id) => g.node(id));
    const x0 = Math.min(...framed.map((b) => b.x)) - NODE_W;
    const y0 = Math.min(...framed.map((b) => b.y)) - NODE_H * 3;
    const x1 = Math.max(...framed.map((b) => b.x)) + NODE_W;
    const y1 = Math.max(...framed.map((b) => b.y)) + NODE_H * 3;
    view = { x: x0, y: y0, w: Math.max(x1 - x0, 400), h: Math.max(y1 - y0, 250) };
  } else {
    view = { x: 0, y: 0, w: extent.w, h: extent.h };
  }
  svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
}

function select(id) {
  shown = id;
  const node = nodes.get(id);
  const [kind, ...rest] = id.split(":");
  const namespace = node.data?.namespace ?? rest[0];
  const name = node.data?.name ?? rest.slice(1).join(":");
  const page = kind === "job" ? "/job" : "/dataset";
  const link = `${page}?${new URLSearchParams({ namespace, name })}`;
  details.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = name;
  const meta = document.createElement("p");
  meta.textContent = `${kind} in ${namespace}`;
  const open = document.createElement("a");
  open.href = link;
  open.textContent = `Open the ${kind}`;
  open.className = "open";
  const again = document.createElement("button");
  again.type = "button";
  again.textContent = "Expand from here";
  again.addEventListener("click", () => expand(id, { keepFocus: true }));
  details.append(h, meta, open, document.createElement("br"), again);
  if (kind === "dataset" && Array.isArray(node.data?.fields) && node.data.fields.length) {
    const list = document.createElement("ul");
    for (const field of node.data.fields) {
      const item = document.createElement("li");
      item.textContent = `${field.name} ${field.type ?? ""}`;
      list.append(item);
    }
    details.append(list);
  }
}

// Escape: the panel is emptied, and the keyboard goes back to the node it showed.
function closeDetails() {
  if (shown === null) return;
  const from = shown;
  shown = null;
  const hint = document.createElement("p");
  hint.className = "empty";
  hint.textContent = "Click a node, or Tab to the graph and press Enter, for its details.";
  details.replaceChildren(hint);
  if (nodeElement(from)) focusNode(from);
}

// A node's own neighbourhood at the same depth and direction, merged into what is shown.
// Drawing again replaces every node and the panel: from the keyboard ("Expand from here"),
// the focus goes back to the node expanded rather than being lost.
async function expand(id, { keepFocus = false } = {}) {
  try {
    const more = await loadGraph(id);
    for (const node of more) nodes.set(node.id, node);
    status.textContent = `${nodes.size} nodes`;
    active = id;
    draw();
    select(id);
    if (keepFocus) focusNode(id);
  } catch (error) {
    status.textContent = error.message;
  }
}

async function loadGraph(id) {
  const params = new URLSearchParams({ nodeId: id, depth: String(state.depth), direction: state.direction });
  const body = await getJson(`/api/v1/lineage?${params}`);
  if (body.truncated) status.textContent = "The graph was cut at the server's node limit.";
  return body.graph;
}

async function chooseColumn(field) {
  state.column = field;
  highlighted = new Set();
  if (field) {
    const [, namespace, ...name] = state.node.split(":");
    const params = new URLSearchParams({
      nodeId: `datasetField:${namespace}:${name.join(":")}:${field}`,
      depth: String(Math.max(state.depth, 1) * 2),
      withDownstream: "true",
    });
    try {
      const body = await getJson(`/api/v1/column-lineage?${params}`);
      // A field's path runs through the datasets holding its upstream and downstream fields,
      // and through the jobs writing one of them from another.
      const touched = new Set(body.graph.map((f) => `dataset:${f.data.namespace}:${f.data.dataset}`));
      for (const id of touched) highlighted.add(id);
      for (const node of nodes.values()) {
        if (node.type !== "JOB") continue;
        const reads = node.inEdges.some((e) => touched.has(e.origin));
        const writes = node.outEdges.some((e) => touched.has(e.destination));
        if (reads && writes) highlighted.add(node.id);
      }
      status.textContent = `${field}: ${body.graph.length} fields in ${touched.size} datasets`;
    } catch (error) {
      status.textContent = error.message;
    }
  }
  shareUrl();
  draw();
}

function columnPicker() {
  const start = nodes.get(state.node);
  const picker = document.getElementById("column-picker");
  const select = document.getElementById("column");
  const fields = start?.type === "DATASET" ? start.data?.fields ?? [] : [];
  picker.hidden = fields.length === 0;
  for (const field of fields) {
    const option = document.createElement("option");
    option.value = field.name;
    option.textContent = field.name;
    option.selected = field.name === state.column;
    select.append(option);
  }
  select.addEventListener("change", () => chooseColumn(select.value));
}

// One listener each for every node, drawn or to be drawn: a node is found from the event.
// They sit on the SVG's HTML container: Chromium makes an SVG element with a focus listener
// focusable itself, which would put the bare drawing in the Tab order.
function nodeEvents() {
  const area = svg.parentElement;
  const nodeOf = (event) => event.target.closest?.("#graph .node")?.dataset.id;
  area.addEventListener("click", (event) => {
    const id = nodeOf(event);
    if (id) select(id);
  });
  area.addEventListener("dblclick", (event) => {
    const id = nodeOf(event);
    if (id) expand(id);
  });
  area.addEventListener("focusin", (event) => {
    const id = nodeOf(event);
    if (id && id !== active) focusNode(id);
  });
  area.addEventListener("keydown", (event) => {
    const id = nodeOf(event);
    if (!id) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault(); // Space would scroll the page
      select(id);
    } else if (event.key.startsWith("Arrow")) {
      event.preventDefault();
      const next = neighbour(id, event.key);
      if (next) focusNode(next);
    }
  });
  // Escape closes the panel from the graph, from the panel, or with nothing focused; in a
  // field (Find, Depth) it keeps its own meaning.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || shown === null) return;
    const where = event.target;
    if (where === document.body || svg.contains(where) || details.contains(where)) closeDetails();
  });
}

// Pan by dragging, zoom with the wheel around the pointer.
function navigation() {
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.closest(".node")) return;
    drag = { x: event.clientX, y: event.clientY, view: { ...view } };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const scale = view.w / svg.clientWidth;
    view.x = drag.view.x - (event.clientX - drag.x) * scale;
    view.y = drag.view.y - (event.clientY - drag.y) * scale;
    svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const factor = event.deltaY > 0 ? 1.15 : 1 / 1.15;
    const rect = svg.getBoundingClientRect();
    const px = view.x + ((event.clientX - rect.left) / rect.width) * view.w;
    const py = view.y + ((event.clientY - rect.top) / rect.height) * view.h;
    view = { x: px - (px - view.x) * factor, y: py - (py - view.y) * factor, w: view.w * factor, h: view.h * factor };
    svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  }, { passive: false });
}

// Resolves once the browser has painted what was drawn: a frame, then the task after it.
function painted() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

async function main() {
  if (!state.node) return;
  document.getElementById("tools").hidden = false;
  const focusBox = document.getElementById("focus");
  const jobsBox = document.getElementById("jobs-only");
  focusBox.value = state.focus;
  jobsBox.checked = state.jobsOnly;
  focusBox.addEventListener("input", () => { state.focus = focusBox.value; shareUrl(); draw(); });
  jobsBox.addEventListener("change", () => { state.jobsOnly = jobsBox.checked; shareUrl(); draw(); });
  document.getElementById("fit").addEventListener("click", () => fit());
  nodeEvents();
  navigation();
  try {
    const asked = performance.now();
    const graph = await loadGraph(state.node);
    performance.measure("explorer:fetch", { start: asked });
    nodes = new Map(graph.map((node) => [node.id, node]));
    status.textContent = `${nodes.size} nodes`;
    columnPicker();
    if (state.column) await chooseColumn(state.column);
    else draw();
    select(state.node);
    await painted();
    // From the navigation's start (time 0) to the graph on screen: what a reader waits for.
    performance.measure("explorer:ready", { start: 0 });
    svg.dataset.ready = "true";
  } catch (error) {
    details.replaceChildren();
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = error.message;
    details.append(p);
    svg.dataset.ready = "error";
  }
}

main();
