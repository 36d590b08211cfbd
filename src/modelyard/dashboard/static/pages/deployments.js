// Deployments: traffic split and target versions, what servers report, and (inside
// `modelyard serve --ui`) the server's live request rate, latency, errors, cache and batches.
import {
  PALETTE, api, barOption, card, chart, chartBox, clear, code, empty, facts, fmtNum, fmtPct, fmtTime, h,
  lineOption, link, pill, showError, table,
} from "../lib.js";

const POLL_MS = 2000;

export async function render(root, route) {
  if (!route.parts.length) return renderList(root);
  return renderDeployment(root, route.parts[0]);
}

function splitBar(traffic) {
  const total = traffic.reduce((sum, r) => sum + r.weight, 0) || 1;
  return h(
    "div", { class: "split", title: traffic.map((r) => `${r.target} ${fmtPct(r.weight / total)}`).join(", ") },
    traffic.map((r, i) => h("span", { style: `width:${(100 * r.weight) / total}%;background:${PALETTE[i % PALETTE.length]}` })),
  );
}

function splitLegend(traffic) {
  const total = traffic.reduce((sum, r) => sum + r.weight, 0) || 1;
  return h(
    "div", { class: "small" },
    traffic.map((r, i) => h("span", { style: "margin-right:10px" }, h("i", { class: "legend-dot", style: `background:${PALETTE[i % PALETTE.length]}` }), `${r.target} ${fmtPct(r.weight / total)}`)),
  );
}

function readiness(statuses) {
  if (!statuses.length) return pill("no server reports", "skipped");
  const ready = statuses.filter((s) => s.ready).length;
  return pill(`${ready}/${statuses.length} servers ready`, ready === statuses.length ? "ready" : "failed");
}

async function renderList(root) {
  const data = await api("deployments");
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Deployments"), h("span", { class: "sub" }, data.live ? "live metrics from this server" : "statuses as servers report them")),
  );
  if (!data.deployments.length) {
    root.append(card(null, empty("No deployment yet: modelyard deployments create NAME --model MODEL.")));
    return;
  }
  root.append(
    card(
      null,
      table(
        [
          { title: "deployment", value: (d) => link(`#/deployments/${encodeURIComponent(d.name)}`, d.name) },
          { title: "model", value: (d) => link(`#/models/${encodeURIComponent(d.model)}`, d.model) },
          { title: "traffic split", value: (d) => [splitBar(d.traffic), splitLegend(d.traffic)] },
          { title: "shadow", value: (d) => (d.shadow.length ? d.shadow.map((t) => pill(t, "shadow")) : "–") },
          { title: "servers", value: (d) => readiness(d.statuses) },
          { title: "revision", class: "num", value: (d) => d.revision },
          { title: "updated", value: (d) => fmtTime(d.updated_at) },
        ],
        data.deployments,
        { rowClass: () => "clickable", onRow: (d, e) => { if (!e.target.closest("a")) location.hash = `#/deployments/${encodeURIComponent(d.name)}`; } },
      ),
    ),
  );
}

async function renderDeployment(root, name) {
  const data = await api(`deployments/${encodeURIComponent(name)}`);
  const spec = data.deployment.spec;
  const pie = chartBox("chart small");
  root.append(
    h("div", { class: "crumbs" }, link("#/deployments", "Deployments")),
    h("div", { class: "page-head" }, h("h1", {}, name), h("span", { class: "sub" }, `serves model `, link(`#/models/${encodeURIComponent(spec.model)}`, spec.model))),
    h(
      "div", { class: "grid three" },
      card("Traffic split", pie, splitLegend(spec.traffic)),
      card(
        "Targets",
        table(
          [
            { title: "target", value: (t) => (t.shadow ? [t.target, " ", pill("shadow")] : t.target) },
            { title: "weight", class: "num", value: (t) => (t.weight === null ? "–" : fmtNum(t.weight)) },
            { title: "resolves to", value: (t) => (t.version ? link(`#/models/${encodeURIComponent(spec.model)}/${t.version}`, `v${t.version}`) : h("span", { class: "muted" }, t.error || "–")) },
            { title: "uri", value: (t) => code(t.uri) },
          ],
          data.targets,
        ),
      ),
      card(
        "Spec",
        facts([
          ["revision", data.deployment.revision],
          ["updated", fmtTime(data.deployment.updated_at)],
          ["sticky key", spec.sticky ? code(`${spec.sticky.source}:${spec.sticky.name}`) : "–"],
          ["batching", code(`max ${spec.batching.max_batch_size} rows, wait ${spec.batching.max_wait_ms} ms`)],
          ["cache", spec.cache.enabled ? `on, ttl ${spec.cache.ttl_s}s` : "off"],
          ["description", spec.description],
        ]),
      ),
    ),
    card("Servers (reports of the last minute)", statusTable(data.statuses)),
  );
  chart(pie, {
    color: PALETTE,
    tooltip: { trigger: "item", valueFormatter: (v) => fmtNum(v) },
    series: [{ type: "pie", radius: ["45%", "72%"], label: { formatter: "{b} {d}%" }, data: spec.traffic.map((r) => ({ name: r.target, value: r.weight })) }],
  });
  if (!data.live) {
    root.append(
      card(
        "Live metrics",
        empty("Request rate, latency, errors, cache and batch sizes are shown when the dashboard runs inside the prediction server: modelyard serve --ui."),
      ),
    );
    return null;
  }
  return liveSection(root, name, spec);
}

function statusTable(statuses) {
  if (!statuses.length) return empty("No server has reported on this deployment.");
  const rows = statuses.flatMap((s) => s.targets.map((t) => ({ server: s, target: t })));
  return table(
    [
      { title: "server", value: (r) => code(r.server.server_id) },
      { title: "ready", value: (r) => pill(r.server.ready ? "ready" : "not ready", r.server.ready ? "ready" : "failed") },
      { title: "target", value: (r) => r.target.target },
      { title: "state", value: (r) => pill(r.target.state) },
      { title: "version", value: (r) => (r.target.version ? `v${r.target.version}` : "–") },
      { title: "serving", value: (r) => (r.target.serving_version ? `v${r.target.serving_version}` : "–") },
      { title: "error", value: (r) => r.target.error || "" },
      { title: "reported", value: (r) => fmtTime(r.server.updated_at) },
    ],
    rows,
  );
}

function liveSection(root, name, spec) {
  const stats = h("div");
  const boxes = {
    rate: chartBox(), latency: chartBox(), errors: chartBox(), cache: chartBox(), batch: chartBox(),
  };
  const problems = h("div");
  root.append(
    h("h2", { class: "section-title" }, "Live (this server)"),
    problems,
    card(null, stats),
    h(
      "div", { class: "charts" },
      card("Request rate (req/s)", boxes.rate),
      card("Latency percentiles (ms)", boxes.latency),
      card("Error rate", boxes.errors),
      card(spec.cache.enabled ? "Cache hit ratio" : "Cache hit ratio (the cache is off)", boxes.cache),
      card("Batch size distribution (rows per predict)", boxes.batch),
    ),
  );
  let timer = null;
  const poll = async () => {
    try {
      const live = await api(`deployments/${encodeURIComponent(name)}/live`);
      clear(problems);
      drawLive(live, stats, boxes);
    } catch (error) {
      clear(problems);
      showError(problems, error);
    }
  };
  poll();
  timer = setInterval(poll, POLL_MS);
  return { leave: () => clearInterval(timer) };
}

function drawLive(live, stats, boxes) {
  const t = live.totals;
  const s = live.series;
  const errors = t.requests ? t.server_errors / t.requests : null;
  const hits = t.cache_hits + t.cache_misses ? t.cache_hits / (t.cache_hits + t.cache_misses) : null;
  clear(stats).append(
    stat(fmtNum(t.requests), "requests"),
    stat(fmtNum(s.rate.at(-1) ?? null), "req/s now"),
    stat(t.p50_ms === null ? "–" : `${fmtNum(t.p50_ms, 3)} ms`, "p50 (all time)"),
    stat(t.p99_ms === null ? "–" : `${fmtNum(t.p99_ms, 3)} ms`, "p99 (all time)"),
    stat(fmtPct(errors), "5xx"),
    stat(fmtPct(hits), "cache hits"),
    stat(fmtNum(live.queue_rows), "rows queued"),
    stat(live.served ? "yes" : "no", "served here"),
  );
  const time = s.t;
  // the last ten minutes at most, and at least one (a lone point would span days)
  const last = time.at(-1) ?? Date.now();
  const first = Math.min(Math.max(time[0] ?? last, last - 600_000), last - 60_000);
  // redrawn every poll: without animation, or the points would grow in again each time
  const span = { time: true, xMin: first, xMax: last + (last - first) / 20, animation: false };
  chart(boxes.rate, lineOption({ ...span, legend: false, series: [{ name: "req/s", x: time, y: s.rate }] }));
  chart(boxes.latency, lineOption({
    ...span,
    series: [
      { name: "p50", x: time, y: s.p50_ms },
      { name: "p95", x: time, y: s.p95_ms },
      { name: "p99", x: time, y: s.p99_ms },
    ],
  }));
  chart(boxes.errors, lineOption({
    ...span, percent: true,
    series: [{ name: "5xx", x: time, y: s.error_rate }, { name: "4xx", x: time, y: s.client_error_rate }],
  }));
  chart(boxes.cache, lineOption({ ...span, percent: true, legend: false, series: [{ name: "hit ratio", x: time, y: s.cache_hit_ratio }] }));
  const bounds = live.batch_sizes.bounds;
  chart(boxes.batch, { animation: false, ...barOption({
    labels: bounds.map((b, i) => (b === null ? `>${bounds[i - 1] ?? 0}` : `≤${b}`)),
    series: [{ name: "predict calls", values: live.batch_sizes.counts }],
    yName: "calls",
  }) });
}

function stat(value, label) {
  return h("div", { class: "stat" }, h("b", {}, value), h("span", {}, label));
}
