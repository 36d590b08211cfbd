// What every page shares: the API client, DOM building, formatting, tables and charts.
// Plain ES module, no build step. Text always goes in as text nodes, never as HTML.

const KEY_STORAGE = "modelyard.apiKey";
export const apiBase = new URL("api/", document.baseURI);

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details || {};
  }
}

/** GET a dashboard API route; array values become repeated parameters. */
export async function api(path, params = {}) {
  const url = new URL(path, apiBase);
  for (const [name, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") url.searchParams.append(name, item);
    }
  }
  return send(url, { headers: keyHeaders() });
}

/** POST ``body`` as JSON to a dashboard API route (the routes that change something). */
export async function apiPost(path, body = {}) {
  const headers = { ...keyHeaders(), "Content-Type": "application/json" };
  return send(new URL(path, apiBase), { method: "POST", headers, body: JSON.stringify(body) });
}

function keyHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { "X-API-Key": key } : {};
}

async function send(url, init) {
  const response = await fetch(url, init);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body?.error || {});
  return body;
}

export function hasApiKey() {
  return Boolean(sessionStorage.getItem(KEY_STORAGE));
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

// -- DOM ------------------------------------------------------------------------------

/** An element: h("a", {href: "#/x", class: "y", onclick: fn}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

export function link(hash, text, attrs = {}) {
  return h("a", { href: hash, ...attrs }, text);
}

export function pill(text, kind) {
  return h("span", { class: `pill ${kind || String(text).toLowerCase()}` }, text);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

export function code(text) {
  return h("code", {}, text);
}

/** A definition list from [label, value] pairs (values may be nodes). */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, v]) => v !== undefined).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]),
  );
}

/** A 401 or 403: the API wants a (better) key. */
export function needsKey(error) {
  return error instanceof ApiError && (error.status === 401 || error.status === 403);
}

/** An error box; a refused key becomes a form asking for one, then ``retry``. */
export function showError(root, error, retry) {
  if (needsKey(error) && retry) {
    root.append(keyForm(error.message, retry));
    return;
  }
  const text = error instanceof ApiError ? `${error.message} (${error.status} ${error.code})` : String(error);
  root.append(h("div", { class: "error", role: "alert" }, text));
  if (!(error instanceof ApiError)) console.error(error);
}

export function keyForm(message, retry) {
  const input = h("input", { type: "password", name: "api-key", placeholder: "myd_…", autocomplete: "off", size: 50 });
  const form = h(
    "form",
    {
      class: "card keyform",
      onsubmit: (event) => {
        event.preventDefault();
        setApiKey(input.value.trim());
        form.remove();
        retry();
      },
    },
    h("h2", {}, "API key needed"),
    h("p", {}, "The dashboard needs an API key with the admin scope (", code("modelyard keys create NAME --scope admin"), "). It is kept in this browser tab only."),
    h("p", { class: "muted small" }, `The server said: ${message}`),
    input,
    " ",
    h("button", { type: "submit" }, "Use key"),
  );
  return form;
}

// -- formatting -----------------------------------------------------------------------

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "–";
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  const days = Math.floor(s / 86400);
  const hours = Math.round((s % 86400) / 3600);
  return hours ? `${days}d ${hours}h` : `${days}d`;
}

export function fmtNum(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function fmtPct(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
}

export function shortId(id, n = 10) {
  return id ? h("span", { class: "mono", title: id }, id.slice(0, n)) : "–";
}

// -- tables ---------------------------------------------------------------------------

/**
 * A table. ``columns``: [{title, value: row => text|node, class, sort, headerClass}];
 * ``options``: {onRow(row, event), rowClass(row), onSort(column), sorted: {key, desc}}.
 */
export function table(columns, rows, options = {}) {
  const head = h(
    "tr",
    {},
    columns.map((column) => {
      const sorted = options.sorted && column.sort && options.sorted.key === column.sort;
      const mark = sorted ? (options.sorted.desc ? " ▼" : " ▲") : "";
      return h(
        "th",
        {
          class: [column.class, column.headerClass, column.sort ? "sortable" : ""].filter(Boolean).join(" "),
          title: column.help || (column.sort ? "sort by this column" : null),
          onclick: column.sort && options.onSort ? () => options.onSort(column) : null,
        },
        column.title,
        mark,
      );
    }),
  );
  const body = h(
    "tbody",
    {},
    rows.map((row) =>
      h(
        "tr",
        {
          class: options.rowClass ? options.rowClass(row) : null,
          onclick: options.onRow ? (event) => options.onRow(row, event) : null,
        },
        columns.map((column) => h("td", { class: column.class }, column.value(row))),
      ),
    ),
  );
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), body));
}

// -- charts ---------------------------------------------------------------------------

let echartsLoading = null;
const liveCharts = new Set();
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) entry.target.__chart?.resize();
});

/** ECharts, loaded on first use so that tables paint before the charting code arrives. */
export function echarts() {
  echartsLoading ??= import("./vendor/echarts.min.js");
  return echartsLoading;
}

/** Draw ``option`` into ``element`` (a chart is made on first use, then updated). */
export async function chart(element, option) {
  const lib = await echarts();
  if (!element.isConnected) return null;
  let instance = lib.getInstanceByDom(element);
  if (!instance) {
    instance = lib.init(element, null, { renderer: "canvas" });
    element.__chart = instance;
    liveCharts.add(instance);
    resizer.observe(element);
  }
  instance.setOption({ animationDuration: 300, ...option }, true);
  return instance;
}

export function chartBox(className = "chart") {
  return h("div", { class: className });
}

/** Dispose every chart (when leaving a page). */
export function disposeCharts() {
  for (const instance of liveCharts) {
    const element = instance.getDom();
    if (element) resizer.unobserve(element);
    instance.dispose();
  }
  liveCharts.clear();
}

export const PALETTE = ["#3b6fd8", "#e07b39", "#2a9d8f", "#c8553d", "#8e6cc2", "#5b8c2a", "#d4a017", "#4a9bc9", "#b5487f", "#6b7a8f"];

/** Lines over steps (or time): ``series`` = [{name, x: [], y: []}]. */
export function lineOption({ series, xName = "step", yName = "", time = false, percent = false, legend = true, xMin, xMax, animation = true }) {
  return {
    animation,
    color: PALETTE,
    tooltip: { trigger: "axis", valueFormatter: (v) => (percent ? fmtPct(v) : fmtNum(v)) },
    legend: legend ? { type: "scroll", top: 0, textStyle: { fontSize: 11 } } : undefined,
    grid: { left: 56, right: 16, top: legend ? 30 : 12, bottom: 34 },
    xAxis: {
      type: time ? "time" : "value",
      name: time ? "" : xName,
      nameLocation: "middle",
      nameGap: 22,
      scale: !time,
      minInterval: time ? undefined : 1,
      min: xMin,
      max: xMax,
      splitNumber: time ? 4 : undefined,
      axisLabel: { hideOverlap: true },
    },
    yAxis: {
      type: "value",
      name: yName,
      scale: !percent,
      max: percent ? 1 : undefined,
      min: percent ? 0 : undefined,
      axisLabel: { formatter: (v) => (percent ? `${Math.round(v * 100)}%` : fmtNum(v, 3)) },
    },
    series: series.map((s) => ({
      name: s.name,
      type: "line",
      showSymbol: s.x.length < 30,
      symbolSize: 5,
      connectNulls: false,
      data: s.x.map((x, i) => [x, s.y[i]]),
    })),
  };
}

/** Bars: ``labels`` on the x axis, one series per entry of ``series`` = [{name, values}]. */
export function barOption({ labels, series, yName = "", horizontal = false, legend = false }) {
  const crowded = !horizontal && labels.length > 6;
  const category = {
    type: "category",
    data: labels,
    axisLabel: { hideOverlap: true, fontSize: 11, overflow: "truncate", width: crowded ? 70 : 110, rotate: crowded ? 35 : 0 },
  };
  const value = { type: "value", name: yName, axisLabel: { formatter: (v) => fmtNum(v, 3) } };
  return {
    color: PALETTE,
    tooltip: { trigger: "axis", valueFormatter: (v) => fmtNum(v) },
    legend: legend ? { top: 0, textStyle: { fontSize: 11 } } : undefined,
    grid: { left: horizontal ? 120 : 56, right: 16, top: legend ? 30 : 14, bottom: horizontal ? 24 : crowded ? 58 : 40 },
    xAxis: horizontal ? value : category,
    yAxis: horizontal ? category : value,
    series: series.map((s) => ({ name: s.name, type: "bar", data: s.values, barMaxWidth: 36 })),
  };
}

// -- lineage --------------------------------------------------------------------------

const KINDS = {
  model_version: { label: "model version", color: "#3b6fd8", symbol: "roundRect" },
  training_run: { label: "training run", color: "#e07b39", symbol: "circle" },
  dataset_version: { label: "dataset version", color: "#2a9d8f", symbol: "rect" },
  pipeline_run: { label: "pipeline run", color: "#8e6cc2", symbol: "diamond" },
  source_file: { label: "source file", color: "#6b7a8f", symbol: "triangle" },
  stream: { label: "stream", color: "#4a9bc9", symbol: "triangle" },
  sql: { label: "sql", color: "#4a9bc9", symbol: "triangle" },
  code: { label: "code", color: "#b5487f", symbol: "pin" },
  other: { label: "other", color: "#999999", symbol: "circle" },
};

/** Where a lineage node leads in the dashboard, if anywhere. */
export function lineageHref(node) {
  const a = node.attributes || {};
  switch (node.kind) {
    case "model_version":
      return `#/models/${encodeURIComponent(a.name)}/${a.version}`;
    case "training_run":
      return a.id ? `#/runs/${a.id}` : null;
    case "dataset_version":
      return a.dataset ? `#/data/datasets/${encodeURIComponent(a.dataset)}/v${a.number}` : null;
    case "pipeline_run":
      return a.id ? `#/data/pipeline-runs/${a.id}` : null;
    default:
      return null;
  }
}

/** Columns by distance from the root (sources left, the root right), rows within them. */
export function lineageLayout(graph) {
  const depth = new Map([[graph.root, 0]]);
  for (let pass = 0; pass < graph.nodes.length; pass += 1) {
    let changed = false;
    for (const edge of graph.edges) {
      const below = depth.get(edge.downstream);
      if (below !== undefined && (depth.get(edge.upstream) ?? -1) < below + 1) {
        depth.set(edge.upstream, below + 1);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const deepest = Math.max(0, ...depth.values());
  const columns = new Map();
  for (const node of graph.nodes) {
    const d = depth.get(node.id) ?? 0;
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(node);
  }
  const tallest = Math.max(1, ...[...columns.values()].map((c) => c.length));
  const place = new Map();
  for (const [d, nodes] of columns) {
    nodes.forEach((node, i) => place.set(node.id, { x: (deepest - d) * 260, y: (i - (nodes.length - 1) / 2) * 64 }));
  }
  return { place, columns: deepest + 1, rows: tallest };
}

export function lineageOption(graph) {
  const { place } = lineageLayout(graph);
  const kinds = Object.keys(KINDS).filter((k) => graph.nodes.some((n) => n.kind === k));
  return {
    tooltip: {
      formatter: (p) => {
        if (p.dataType !== "node") return p.data.relation || "";
        const node = p.data.node;
        const rows = Object.entries(node.attributes || {})
          .filter(([, v]) => v !== null && v !== undefined && typeof v !== "object")
          .slice(0, 8)
          .map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(String(v)).slice(0, 80)}`);
        return [`<b>${escapeHtml(KINDS[node.kind]?.label || node.kind)}</b>`, escapeHtml(node.label), ...rows].join("<br>");
      },
    },
    legend: { data: kinds.map((k) => KINDS[k].label), top: 0, textStyle: { fontSize: 11 } },
    series: [
      {
        type: "graph",
        layout: "none",
        roam: true,
        categories: kinds.map((k) => ({ name: KINDS[k].label, itemStyle: { color: KINDS[k].color }, symbol: KINDS[k].symbol })),
        top: 50,
        bottom: 40,
        left: 90,
        right: 90,
        symbolSize: 16,
        edgeSymbol: ["none", "arrow"],
        edgeSymbolSize: 7,
        label: {
          show: true,
          position: "bottom",
          fontSize: 11,
          formatter: (p) => truncate(p.data.node.label, 34),
        },
        edgeLabel: { show: true, fontSize: 10, color: "#777", formatter: (p) => p.data.relation },
        lineStyle: { color: "#9aa5b1", width: 1.2, curveness: 0.08 },
        emphasis: { focus: "adjacency" },
        data: graph.nodes.map((node) => ({
          id: node.id,
          name: node.id,
          node,
          x: place.get(node.id).x,
          y: place.get(node.id).y,
          category: kinds.indexOf(node.kind),
          symbolSize: node.id === graph.root ? 24 : 16,
          cursor: lineageHref(node) ? "pointer" : "default",
        })),
        links: graph.edges.map((edge) => ({ source: edge.upstream, target: edge.downstream, relation: edge.relation })),
      },
    ],
  };
}

/**
 * ``graph`` with the source files that only feed one node, when there are more than
 * ``limit`` of them, drawn as one node ("60 source files"): a pipeline that read a file
 * per day would otherwise be a wall of labels.
 */
export function groupSources(graph, limit = 5) {
  const kinds = new Map(graph.nodes.map((n) => [n.id, n.kind]));
  const feeds = new Map();
  for (const edge of graph.edges) {
    if (kinds.get(edge.upstream) !== "source_file") continue;
    if (!feeds.has(edge.upstream)) feeds.set(edge.upstream, []);
    feeds.get(edge.upstream).push(edge.downstream);
  }
  const groups = new Map();
  for (const node of graph.nodes) {
    const targets = feeds.get(node.id) || [];
    if (node.kind !== "source_file" || targets.length !== 1) continue;
    if (!groups.has(targets[0])) groups.set(targets[0], []);
    groups.get(targets[0]).push(node);
  }
  const hidden = new Set();
  const nodes = [];
  const edges = [];
  for (const [downstream, files] of groups) {
    if (files.length <= limit) continue;
    files.forEach((f) => hidden.add(f.id));
    const id = `files:${downstream}`;
    const size = files.reduce((n, f) => n + (f.attributes?.size || 0), 0);
    nodes.push({
      id,
      kind: "source_file",
      label: `${files.length} source files`,
      attributes: { files: files.length, size, first: files[0].label, last: files.at(-1).label },
    });
    edges.push({ upstream: id, downstream, relation: "read" });
  }
  return {
    root: graph.root,
    nodes: [...graph.nodes.filter((n) => !hidden.has(n.id)), ...nodes],
    edges: [...graph.edges.filter((e) => !hidden.has(e.upstream)), ...edges],
  };
}

/** A lineage graph card; clicking a node opens it in the dashboard. */
export function lineageCard(full, title = "Lineage") {
  const graph = groupSources(full);
  const { columns, rows } = lineageLayout(graph);
  const files = full.nodes.filter((n) => n.kind === "source_file");
  const box = h("div", { class: "chart lineage", style: `height:${Math.min(720, Math.max(260, rows * 70 + 90))}px` });
  const section = card(
    title,
    h("p", { class: "muted small" }, `${full.nodes.length} objects over ${columns} levels, sources on the left. Click a node to open it; drag or scroll to move.`),
    box,
    files.length
      ? h(
        "details", {},
        h("summary", { class: "small" }, `${files.length} source file${files.length > 1 ? "s" : ""} with their sha256`),
        table(
          [
            { title: "file", value: (f) => code(f.attributes.uri || f.label) },
            { title: "sha256", value: (f) => shortId(f.attributes.digest, 23) },
            { title: "size", class: "num", value: (f) => fmtBytes(f.attributes.size) },
          ],
          files,
        ),
      )
      : null,
  );
  queueMicrotask(async () => {
    const instance = await chart(box, lineageOption(graph));
    instance?.on("click", (p) => {
      const href = p.dataType === "node" ? lineageHref(p.data.node) : null;
      if (href) location.hash = href;
    });
  });
  return section;
}

export function truncate(text, n) {
  const s = String(text ?? "");
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** ``metrics.key`` in the filter language, quoted when the key needs it. */
export function filterIdent(prefix, key) {
  return /^[A-Za-z_][A-Za-z0-9_./:-]*$/.test(key) ? `${prefix}.${key}` : `${prefix}.\`${key}\``;
}
