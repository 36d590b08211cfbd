// Monitoring: per deployment, drift of inputs and predictions against the reference (score
// against threshold, reference against current distributions, drifted columns first),
// performance per model version with 95% interval bands, service health, and the alerts,
// which can be acknowledged here.
import {
  PALETTE, api, apiPost, barOption, card, chart, chartBox, clear, code, empty, escapeHtml, facts, fmtDuration,
  fmtNum, fmtPct, fmtTime, h, lineOption, link, pill, showError, table,
} from "../lib.js";

const WINDOWS = ["1h", "1d", "7d"];
const DEFAULT_WINDOW = "1d";
const MAX_DISTRIBUTIONS = 12; // feature distribution charts drawn; the table lists every column
const ALERT_STATUSES = ["open", "firing", "acknowledged", "resolved", "all"];
const ALERT_KIND = { firing: "failed", acknowledged: "warn", resolved: "passed" };
const DRIFTED = "#c8553d";
const STEADY = "#2a9d8f";
const REFERENCE = "#9aa5b1";

export async function render(root, route) {
  if (!route.parts.length) return renderOverview(root, route.query);
  const window = WINDOWS.includes(route.query.get("window")) ? route.query.get("window") : DEFAULT_WINDOW;
  return renderDeployment(root, route.parts[0], window);
}

const deploymentHref = (name, window) => `#/monitoring/${encodeURIComponent(name)}${window ? `?window=${window}` : ""}`;

// -- overview -------------------------------------------------------------------------

async function renderOverview(root, query) {
  const [data, rules] = await Promise.all([api("monitoring"), api("monitoring/rules")]);
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Monitoring"), h("span", { class: "sub" }, "drift, performance, health and alerts per deployment")),
    card(
      "Deployments",
      data.deployments.length
        ? table(
          [
            { title: "deployment", value: (d) => link(deploymentHref(d.name), d.name) },
            { title: "model", value: (d) => link(`#/models/${encodeURIComponent(d.model)}`, d.model) },
            {
              title: "open alerts",
              value: (d) => (d.open_alerts
                ? [d.firing ? pill(`${d.firing} firing`, "failed") : null, d.open_alerts > d.firing ? pill(`${d.open_alerts - d.firing} acknowledged`, "warn") : null]
                : pill("none", "passed")),
            },
            { title: "alert rules", class: "num", value: (d) => d.rules },
            { title: "windows", value: (d) => WINDOWS.map((w) => [link(deploymentHref(d.name, w), w), " "]) },
          ],
          data.deployments,
          { rowClass: () => "clickable", onRow: (d, e) => { if (!e.target.closest("a")) location.hash = deploymentHref(d.name); } },
        )
        : empty("No deployment yet: modelyard deployments create NAME --model MODEL."),
    ),
    alertsCard({ status: query.get("status") || "open" }),
    card(`Alert rules (${rules.length})`, rulesTable(rules, true)),
  );
}

function rulesTable(rules, withDeployment) {
  if (!rules.length) return empty("No alert rule: modelyard alerts rules add NAME -d DEPLOYMENT --when \"accuracy < 0.9\" --window 1d.");
  return table(
    [
      { title: "rule", value: (r) => code(r.name) },
      withDeployment ? { title: "deployment", value: (r) => link(deploymentHref(r.deployment), r.deployment) } : null,
      { title: "condition", value: (r) => code(r.condition) },
      { title: "window", value: (r) => fmtDuration(r.window_s * 1000) },
      { title: "min samples", class: "num", value: (r) => fmtNum(r.min_samples) },
      { title: "webhook", value: (r) => (r.webhook ? code(r.webhook) : "–") },
      { title: "enabled", value: (r) => (r.enabled ? "yes" : pill("disabled", "skipped")) },
    ].filter(Boolean),
    rules,
  );
}

// -- alerts ---------------------------------------------------------------------------

/** A card of alerts with a status filter; firing ones have an Acknowledge button. */
function alertsCard({ status = "open", deployment = null, limit = 50 }) {
  const select = h(
    "select", { name: "alert-status", title: "which alerts" },
    ALERT_STATUSES.map((s) => h("option", { value: s, selected: s === status }, s === "all" ? "all alerts" : `${s} alerts`)),
  );
  const body = h("div", { class: "alerts" }, h("p", { class: "muted" }, "Loading…"));
  const title = h("h2", {}, "Alerts");
  const load = async () => {
    try {
      const data = await api("monitoring/alerts", { status: select.value, deployment, limit });
      title.textContent = `Alerts (${data.alerts.length}${data.more ? "+" : ""})`;
      clear(body).append(alertsTable(data.alerts, !deployment, load));
      if (data.more) body.append(h("p", { class: "muted small" }, `The newest ${limit} are shown.`));
    } catch (error) {
      clear(body);
      showError(body, error, load);
    }
  };
  select.addEventListener("change", load);
  load();
  return h("section", { class: "card" }, h("div", { class: "toolbar" }, title, h("span", { class: "grow" }), select), body);
}

function alertsTable(alerts, withDeployment, reload) {
  if (!alerts.length) return empty("No alert of this status.");
  return table(
    [
      { title: "status", value: (a) => pill(a.status, ALERT_KIND[a.status]) },
      { title: "rule", value: (a) => code(a.rule) },
      withDeployment ? { title: "deployment", value: (a) => link(deploymentHref(a.deployment), a.deployment) } : null,
      { title: "condition", value: (a) => code(a.evidence.condition || "–") },
      { title: "value", class: "num", value: (a) => fmtNum(a.value) },
      { title: "samples", class: "num", value: (a) => fmtNum(a.evidence.samples) },
      { title: "fired", class: "nowrap", value: (a) => fmtTime(a.fired_at) },
      {
        title: "acknowledged",
        value: (a) => (a.acknowledged_at ? [fmtTime(a.acknowledged_at), h("div", { class: "sub" }, `by ${a.acknowledged_by}`)] : "–"),
      },
      { title: "resolved", class: "nowrap", value: (a) => fmtTime(a.resolved_at) },
      { title: "webhook", value: (a) => (a.delivery ? pill(a.delivery, a.delivery === "delivered" ? "passed" : "failed") : "–") },
      { title: "", value: (a) => (a.status === "firing" ? ackButton(a, reload) : "") },
    ].filter(Boolean),
    alerts,
    { rowClass: (a) => `alert-row ${a.status}` },
  );
}

function ackButton(alert, reload) {
  const button = h("button", { type: "button", class: "primary ack", "data-alert": alert.id }, "Acknowledge");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Acknowledging…";
    try {
      await apiPost(`monitoring/alerts/${encodeURIComponent(alert.id)}/acknowledge`);
      await reload();
    } catch (error) {
      const cell = button.parentElement;
      button.remove();
      showError(cell, error);
    }
  });
  return button;
}

// -- one deployment -------------------------------------------------------------------

async function renderDeployment(root, name, window) {
  const [data, rules] = await Promise.all([api("monitoring"), api("monitoring/rules", { deployment: name })]);
  const found = data.deployments.find((d) => d.name === name);
  root.append(h("div", { class: "crumbs" }, link("#/monitoring", "Monitoring")));
  if (!found) {
    root.append(h("div", { class: "error" }, `There is no deployment ${name}.`));
    return;
  }
  const picker = h(
    "div", { class: "toolbar", role: "group", "aria-label": "window" },
    h("span", { class: "muted" }, "window"),
    WINDOWS.map((w) => h("button", { type: "button", class: w === window ? "primary" : "", "data-window": w, onclick: () => { location.hash = deploymentHref(name, w); } }, `last ${w}`)),
  );
  const sections = { drift: h("div"), performance: h("div"), health: h("div") };
  root.append(
    h(
      "div", { class: "page-head" },
      h("h1", {}, name),
      h("span", { class: "sub" }, "serves ", link(`#/models/${encodeURIComponent(found.model)}`, found.model), " · ", link(`#/deployments/${encodeURIComponent(name)}`, "traffic and servers")),
    ),
    picker,
    alertsCard({ status: "all", deployment: name, limit: 20 }),
    h("h2", { class: "section-title" }, `Drift over the last ${window}`),
    sections.drift,
    h("h2", { class: "section-title" }, `Performance over the last ${window}`),
    sections.performance,
    h("h2", { class: "section-title" }, `Health over the last ${window}`),
    sections.health,
    card(`Alert rules of ${name} (${rules.length})`, rulesTable(rules, false)),
  );
  const path = `monitoring/deployments/${encodeURIComponent(name)}`;
  const section = async (box, route, draw) => {
    box.append(h("p", { class: "muted" }, "Loading…"));
    try {
      const answer = await api(`${path}/${route}`, { window });
      clear(box);
      draw(box, answer);
    } catch (error) {
      clear(box);
      showError(box, error);
    }
  };
  await Promise.all([
    section(sections.drift, "drift", drawDrift),
    section(sections.performance, "performance", drawPerformance),
    section(sections.health, "health", drawHealth),
  ]);
  return null;
}

/** A bucket's length as the window selector says it: 5m, 2h, 1d. */
function bucketText(ms) {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return `${Math.round(ms / 60_000)}m`;
}

function notice(text) {
  return h("div", { class: "warning notice" }, text);
}

function stat(value, label) {
  return h("div", { class: "stat" }, h("b", {}, value), h("span", {}, label));
}

// -- drift ----------------------------------------------------------------------------

function drawDrift(box, drift) {
  if (!drift.available) {
    box.append(notice(`No drift to show: ${drift.note}`));
    return;
  }
  const columns = drift.columns;
  const drifted = columns.filter((c) => c.drifted);
  const scores = h("div", { class: "chart", style: `height:${Math.min(640, Math.max(200, 24 * columns.length + 80))}px` });
  box.append(
    h(
      "div", { class: "grid two" },
      card(
        "Summary",
        h(
          "div", {},
          stat(drift.drifted ? "drift" : "no drift", `dataset verdict (at ${fmtPct(drift.drift_share)} of columns)`),
          stat(`${drifted.length} / ${columns.length}`, "features drifted"),
          stat(drift.prediction ? (drift.prediction.drifted ? "drifted" : "steady") : "–", "prediction"),
          stat(fmtNum(drift.current_rows), "rows in the window"),
          stat(fmtNum(drift.reference_rows), "reference rows"),
        ),
        facts([["reference", drift.source ? code(drift.source) : "–"]]),
      ),
      card("Score against threshold per feature", scores),
    ),
    card(
      "Features, drifted first",
      table(
        [
          { title: "column", value: (c) => code(c.column) },
          { title: "verdict", value: (c) => verdict(c) },
          { title: "kind", value: (c) => c.kind },
          { title: "method", value: (c) => c.method },
          { title: "score", class: "num", value: (c) => fmtNum(c.score) },
          { title: "threshold", class: "num", value: (c) => fmtNum(c.threshold) },
          { title: "reference n", class: "num", value: (c) => fmtNum(c.reference_count) },
          { title: "current n", class: "num", value: (c) => fmtNum(c.current_count) },
        ],
        columns,
        { rowClass: (c) => (c.drifted ? "differs" : "") },
      ),
    ),
  );
  if (columns.length) chart(scores, scoreOption(columns));
  const distributions = h("div", { class: "charts" });
  box.append(distributions);
  const predictionBox = chartBox();
  distributions.append(
    drift.prediction
      ? card(null, distributionTitle(drift.prediction, "prediction (model output)"), predictionBox)
      : card("prediction (model output)", notice("No prediction drift: the reference does not profile the model's output. Give ws.monitoring.set_reference a frame with a prediction column.")),
  );
  if (drift.prediction) chart(predictionBox, distributionOption(drift.prediction));
  for (const column of columns.slice(0, MAX_DISTRIBUTIONS)) {
    const element = chartBox();
    distributions.append(card(null, distributionTitle(column), element));
    chart(element, distributionOption(column));
  }
  if (columns.length > MAX_DISTRIBUTIONS) {
    box.append(h("p", { class: "muted small" }, `The distributions of the first ${MAX_DISTRIBUTIONS} features are drawn; the table lists all ${columns.length}.`));
  }
}

function verdict(column) {
  return pill(column.drifted ? "drifted" : "steady", column.drifted ? "failed" : "passed");
}

function distributionTitle(column, label) {
  const rule = column.distance === null ? `p = ${fmtNum(column.score, 3)} (drift below ${fmtNum(column.threshold)})` : `${fmtNum(column.score, 3)} (drift from ${fmtNum(column.threshold)})`;
  return h("h2", {}, label || column.column, " ", verdict(column), h("span", { class: "muted small" }, ` ${column.method} ${rule}`));
}

/** Scores as bars (red where drifted) with each column's threshold as a mark: p-values on a
 * log axis (drift below the mark), distances on a linear one (drift at or above it). */
function scoreOption(columns) {
  const tests = columns.every((c) => c.distance === null);
  const floor = 1e-12;
  const value = (v) => (tests ? Math.max(v ?? floor, floor) : v);
  return {
    color: PALETTE,
    tooltip: {
      trigger: "axis",
      formatter: (items) => {
        const column = columns[items[0].dataIndex];
        return [
          `<b>${escapeHtml(column.column)}</b> (${escapeHtml(column.method)})`,
          `score ${escapeHtml(fmtNum(column.score))}, threshold ${escapeHtml(fmtNum(column.threshold))}`,
          column.drifted ? "drifted" : "steady",
        ].join("<br>");
      },
    },
    legend: { top: 0, textStyle: { fontSize: 11 }, data: ["score", "threshold"] },
    grid: { left: 110, right: 24, top: 30, bottom: 34 },
    xAxis: {
      type: tests ? "log" : "value",
      name: tests ? "p-value (log)" : "distance",
      nameLocation: "middle",
      nameGap: 22,
      axisLabel: { formatter: (v) => fmtNum(v, 2) },
    },
    yAxis: { type: "category", inverse: true, data: columns.map((c) => c.column), axisLabel: { fontSize: 11, width: 100, overflow: "truncate" } },
    series: [
      {
        name: "score",
        type: "bar",
        barMaxWidth: 18,
        data: columns.map((c) => ({ value: value(c.score), itemStyle: { color: c.drifted ? DRIFTED : STEADY } })),
      },
      {
        // a mark per column: a line series without its line (the bundle has no scatter)
        name: "threshold",
        type: "line",
        symbol: "rect",
        symbolSize: [3, 20],
        showSymbol: true,
        lineStyle: { opacity: 0 },
        itemStyle: { color: "#1f2328" },
        z: 3,
        data: columns.map((c, i) => [value(c.threshold), i]),
      },
    ],
  };
}

/** Reference against current shares over the column's buckets. */
function distributionOption(column) {
  const hist = column.histogram;
  const labels = hist.edges
    ? hist.reference.map((_, i) => `${fmtNum(hist.edges[i], 3)}–${fmtNum(hist.edges[i + 1], 3)}`)
    : hist.labels.map(String);
  const option = barOption({
    labels,
    series: [{ name: "reference", values: hist.reference }, { name: "current", values: hist.current }],
    legend: true,
  });
  option.color = [REFERENCE, column.drifted ? DRIFTED : STEADY];
  option.tooltip.valueFormatter = (v) => fmtPct(v);
  option.yAxis.axisLabel = { formatter: (v) => `${Math.round(v * 100)}%` };
  option.yAxis.name = "share";
  return option;
}

// -- performance ----------------------------------------------------------------------

function bucketStarts(span) {
  const starts = [];
  for (let t = span.since_ms; t < span.until_ms; t += span.bucket_ms) starts.push(t);
  return starts;
}

function bucketLabel(t, bucketMs) {
  const d = new Date(t);
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return bucketMs >= 86_400_000 ? day : `${day} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function drawPerformance(box, perf) {
  if (!perf.available) {
    box.append(notice(perf.note));
    return;
  }
  const starts = bucketStarts(perf);
  const labels = starts.map((t) => bucketLabel(t, perf.bucket_ms));
  const samples = new Map();
  for (const w of perf.windows) samples.set(w.version, (samples.get(w.version) || 0) + w.samples);
  box.append(
    card(
      null,
      h(
        "div", {},
        stat(perf.task, "task"),
        stat(fmtNum(samples.get(null) || 0), "labelled predictions"),
        perf.versions.map((v) => stat(fmtNum(samples.get(v) || 0), `labels of v${v}`)),
      ),
      h("p", { class: "muted small" }, `Per bucket of ${bucketText(perf.bucket_ms)} and per model version; the bands are 95% intervals (Wilson's for accuracy, a bootstrap otherwise).`),
    ),
  );
  const charts = h("div", { class: "charts" });
  box.append(charts);
  for (const metric of perf.metrics) {
    const element = chartBox();
    charts.append(card(metric, element));
    chart(element, metricOption(metric, perf, starts, labels));
  }
}

/** A line per model version (dashed: all versions), each over a band of its interval: an
 * invisible line at the low end with the interval's height stacked on it. */
function metricOption(metric, perf, starts, labels) {
  const series = [];
  const groups = [...perf.versions.map((v, i) => ({ version: v, label: `v${v}`, color: PALETTE[i % PALETTE.length] }))];
  if (perf.versions.length > 1) groups.push({ version: null, label: "all versions", color: "#1f2328" });
  for (const group of groups) {
    const byStart = new Map(perf.windows.filter((w) => w.version === group.version).map((w) => [w.start_ms, w]));
    const points = starts.map((t) => byStart.get(t)?.metrics[metric] || null);
    const counts = starts.map((t) => byStart.get(t)?.samples ?? null);
    if (group.version !== null) {
      const band = {
        type: "line", stack: `band-${group.label}`, stackStrategy: "all", symbol: "none", silent: true,
        lineStyle: { opacity: 0 }, color: group.color, connectNulls: false,
      };
      const lows = bridge(points.map((p) => p?.low ?? null));
      const highs = bridge(points.map((p) => p?.high ?? null));
      series.push({ ...band, id: `band-low-${group.label}`, name: group.label, data: lows });
      series.push({
        ...band,
        id: `band-${group.label}`,
        name: group.label,
        areaStyle: { opacity: 0.15 },
        data: lows.map((low, i) => (low === null || highs[i] === null ? null : highs[i] - low)),
      });
    }
    series.push({
      id: `line-${group.label}`,
      name: group.label,
      type: "line",
      color: group.color,
      symbolSize: 6,
      connectNulls: true,
      z: 3,
      lineStyle: { width: 2, type: group.version === null ? "dashed" : "solid" },
      data: points.map((p, i) => (p ? { value: p.value, low: p.low, high: p.high, samples: counts[i] } : null)),
    });
  }
  return {
    color: PALETTE,
    tooltip: {
      trigger: "axis",
      formatter: (items) => {
        const lines = items.filter((p) => String(p.seriesId).startsWith("line-") && p.data);
        if (!lines.length) return "";
        return [
          escapeHtml(lines[0].axisValueLabel),
          ...lines.map((p) => {
            const d = p.data;
            const interval = d.low !== null && d.high !== null ? ` [${fmtNum(d.low, 3)}, ${fmtNum(d.high, 3)}]` : "";
            return `${p.marker}${escapeHtml(p.seriesName)}: ${escapeHtml(fmtNum(d.value, 3) + interval)} · ${escapeHtml(fmtNum(d.samples))} labels`;
          }),
        ].join("<br>");
      },
    },
    legend: { top: 0, textStyle: { fontSize: 11 }, data: groups.map((g) => g.label) },
    grid: { left: 56, right: 16, top: 30, bottom: 34 },
    xAxis: { type: "category", data: labels, boundaryGap: false, axisLabel: { hideOverlap: true } },
    yAxis: { type: "value", scale: true, axisLabel: { formatter: (v) => fmtNum(v, 3) } },
    series,
  };
}

/** Gaps between known values filled in linearly (as the line is drawn over them); the ends
 * stay empty. */
function bridge(values) {
  const known = values.flatMap((v, i) => (v === null ? [] : [i]));
  const out = [...values];
  for (let k = 1; k < known.length; k += 1) {
    const [a, b] = [known[k - 1], known[k]];
    for (let i = a + 1; i < b; i += 1) out[i] = values[a] + ((values[b] - values[a]) * (i - a)) / (b - a);
  }
  return out;
}

// -- health ---------------------------------------------------------------------------

function drawHealth(box, health) {
  const s = health.summary;
  const buckets = health.windows;
  const time = buckets.map((b) => b.start_ms);
  const span = { time: true, xMin: health.since_ms, xMax: health.until_ms };
  const boxes = { latency: chartBox(), errors: chartBox(), throughput: chartBox() };
  box.append(
    card(
      null,
      stat(fmtNum(s.requests), "requests"),
      stat(fmtNum(s.rows), "rows predicted"),
      stat(fmtNum(s.errors), "failed requests"),
      stat(fmtPct(s.error_rate), "error rate"),
      stat(s.latency_p50_ms === null ? "–" : `${fmtNum(s.latency_p50_ms, 3)} ms`, "p50"),
      stat(s.latency_p95_ms === null ? "–" : `${fmtNum(s.latency_p95_ms, 3)} ms`, "p95"),
      stat(s.latency_p99_ms === null ? "–" : `${fmtNum(s.latency_p99_ms, 3)} ms`, "p99"),
      stat(fmtNum(s.throughput_rps, 3), "req/s on average"),
    ),
  );
  if (!s.requests && !s.errors) {
    box.append(notice("No request was logged in this window."));
    return;
  }
  box.append(
    h(
      "div", { class: "charts" },
      card(`Latency percentiles per request (ms), per ${bucketText(health.bucket_ms)}`, boxes.latency),
      card("Error rate (failed requests)", boxes.errors),
      card("Throughput (requests per second)", boxes.throughput),
    ),
  );
  chart(boxes.latency, lineOption({
    ...span,
    series: [
      { name: "p50", x: time, y: buckets.map((b) => b.latency_p50_ms) },
      { name: "p95", x: time, y: buckets.map((b) => b.latency_p95_ms) },
      { name: "p99", x: time, y: buckets.map((b) => b.latency_p99_ms) },
    ],
  }));
  const errors = lineOption({ ...span, percent: true, legend: false, series: [{ name: "error rate", x: time, y: buckets.map((b) => b.error_rate) }] });
  delete errors.yAxis.max; // a few percent would lie flat on a 0-100% axis
  chart(boxes.errors, errors);
  chart(boxes.throughput, lineOption({ ...span, legend: false, series: [{ name: "req/s", x: time, y: buckets.map((b) => b.throughput_rps) }] }));
}
