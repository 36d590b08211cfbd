// Data: datasets and their versions (schema, statistics, check reports, diffs, lineage),
// pipelines and their runs, feature views.
import {
  api, barOption, card, chart, chartBox, clear, code, empty, facts, fmtBytes, fmtDuration, fmtNum, fmtPct,
  fmtTime, h, lineageCard, link, pill, showError, shortId, table,
} from "../lib.js";

export async function render(root, route) {
  const [kind, name, extra] = route.parts;
  if (kind === "datasets" && name) return renderDataset(root, name, extra || "latest");
  if (kind === "pipelines" && name) return renderPipeline(root, name);
  if (kind === "pipeline-runs" && name) return renderPipelineRun(root, name);
  return renderIndex(root);
}

const dsHref = (name, selector) => `#/data/datasets/${encodeURIComponent(name)}${selector ? `/${encodeURIComponent(selector)}` : ""}`;
const pipelineHref = (name) => `#/data/pipelines/${encodeURIComponent(name)}`;
const runHref = (id) => `#/data/pipeline-runs/${id}`;

function head(title, sub, ...crumbs) {
  const title_ = h("div", { class: "page-head" }, h("h1", {}, title), sub ? h("span", { class: "sub" }, sub) : null);
  if (!crumbs.length) return [title_];
  return [h("div", { class: "crumbs" }, crumbs.flatMap((c, i) => (i ? [" / ", c] : [c]))), title_];
}

// -- index ----------------------------------------------------------------------------

async function renderIndex(root) {
  root.append(...head("Data", "datasets, pipelines and feature views"));
  const [datasets, pipelines, features] = await Promise.all([api("datasets"), api("pipelines"), api("features")]);
  root.append(
    card(
      `Datasets (${datasets.length})`,
      datasets.length
        ? table(
          [
            { title: "dataset", value: (d) => link(dsHref(d.name), d.name) },
            { title: "kind", value: (d) => (d.kind === "data" ? "data" : pill(d.kind, "warn")) },
            { title: "versions", class: "num", value: (d) => d.versions },
            { title: "rows (latest)", class: "num", value: (d) => fmtNum(d.latest?.rows) },
            { title: "columns", class: "num", value: (d) => d.latest?.columns ?? "–" },
            { title: "size", class: "num", value: (d) => fmtBytes(d.latest?.size) },
            { title: "latest version", value: (d) => (d.latest ? link(dsHref(d.name, `v${d.latest.number}`), `v${d.latest.number} · ${d.latest.id.slice(0, 12)}`) : "–") },
            { title: "created", value: (d) => fmtTime(d.latest?.created_at) },
          ],
          datasets,
          { rowClass: () => "clickable", onRow: (d, e) => { if (!e.target.closest("a")) location.hash = dsHref(d.name); } },
        )
        : empty("No dataset yet: run a pipeline (modelyard data run NAME) or datasets.write()."),
    ),
    card(
      `Pipelines (${pipelines.pipelines.length})`,
      pipelines.error ? h("div", { class: "warning" }, `The pipeline definitions do not load: ${pipelines.error}`) : null,
      pipelines.pipelines.length
        ? table(
          [
            { title: "pipeline", value: (p) => link(pipelineHref(p.name), p.name) },
            { title: "schedule", value: (p) => (p.definition?.schedule ? code(p.definition.schedule) : "–") },
            { title: "sources", value: (p) => (p.definition ? Object.entries(p.definition.sources).map(([n, s]) => `${n} (${s.kind})`).join(", ") : h("span", { class: "muted" }, "not defined now")) },
            { title: "loads", value: (p) => (p.definition ? p.definition.loads.map((l) => l.dataset).join(", ") : "–") },
            { title: "last run", value: (p) => (p.last_run ? [pill(p.last_run.status), " ", link(runHref(p.last_run.id), fmtTime(p.last_run.started_at))] : "never") },
            { title: "checks failed", class: "num", value: (p) => (p.last_run ? `${p.last_run.checks_failed} / ${p.last_run.checks}` : "–") },
          ],
          pipelines.pipelines,
        )
        : empty("No pipeline defined in the workspace's pipelines folder."),
    ),
    card(
      `Feature views (${features.views.length})`,
      features.views.length
        ? table(
          [
            { title: "view", value: (v) => code(v.ref) },
            { title: "entities", value: (v) => v.entities.map((e) => `${e.name} (${Object.keys(e.join_keys).join(", ")})`).join("; ") },
            { title: "features", value: (v) => Object.entries(v.features).map(([n, t]) => `${n}: ${t}`).join(", ") },
            { title: "source", value: (v) => link(dsHref(v.source), v.source) },
            { title: "ttl", value: (v) => (v.ttl_seconds ? fmtDuration(v.ttl_seconds * 1000) : "none") },
            { title: "registered", value: (v) => fmtTime(v.created_at) },
          ],
          features.views,
        )
        : empty("No feature view registered: define them in features/*.py and run modelyard apply."),
      features.services.length
        ? [h("h3", {}, "feature services"), table([{ title: "service", value: (s) => code(s.name) }, { title: "features", value: (s) => s.features.join(", ") }], features.services)]
        : null,
    ),
  );
}

// -- a dataset ------------------------------------------------------------------------

async function renderDataset(root, name, selector) {
  const { versions } = await api(`datasets/${encodeURIComponent(name)}`);
  root.append(...head(name, `${versions.length} version${versions.length === 1 ? "" : "s"}`, link("#/data", "Data"), "datasets"));
  const detail = await api(`datasets/${encodeURIComponent(name)}/versions/${encodeURIComponent(selector)}`);
  const v = detail.version;
  root.append(
    card(
      "Versions",
      table(
        [
          { title: "version", value: (x) => link(dsHref(name, `v${x.number}`), `v${x.number}`) },
          { title: "id", value: (x) => shortId(x.id, 12) },
          { title: "rows", class: "num", value: (x) => fmtNum(x.rows) },
          { title: "size", class: "num", value: (x) => fmtBytes(x.size) },
          { title: "parts", class: "num", value: (x) => x.parts },
          { title: "created", value: (x) => fmtTime(x.created_at) },
          { title: "made by", value: (x) => (x.run_id ? link(runHref(x.run_id), x.run_id.slice(0, 12)) : "–") },
        ],
        versions,
        {
          rowClass: (x) => `clickable${x.id === v.id ? " selected" : ""}`,
          onRow: (x, e) => { if (!e.target.closest("a")) location.hash = dsHref(name, `v${x.number}`); },
        },
      ),
    ),
  );
  const histogram = chartBox();
  const histogramTitle = h("h2", {}, "Distribution");
  const showColumn = (stats) => {
    histogramTitle.textContent = `Distribution of ${stats.name}`;
    chart(histogram, histogramOption(stats));
  };
  root.append(
    h("h2", { class: "section-title" }, `Version ${v.number} · `, h("span", { class: "mono" }, v.id.slice(0, 12))),
    h(
      "div", { class: "grid two" },
      card(
        "Overview",
        facts([
          ["ref", code(`${v.dataset}@v${v.number}`)],
          ["id", shortId(v.id, 24)],
          ["rows", fmtNum(v.rows)],
          ["size", fmtBytes(v.size)],
          ["parts", v.parts.length],
          ["created", fmtTime(v.created_at)],
          ["parent", v.parent_id ? shortId(v.parent_id, 12) : "–"],
          ["made by", detail.run ? [link(runHref(detail.run.id), `${detail.run.pipeline} run ${detail.run.id.slice(0, 12)}`), " ", pill(detail.run.status)] : "–"],
        ]),
      ),
      h("section", { class: "card" }, histogramTitle, histogram),
    ),
    card(
      `Schema and statistics (${v.schema.length} columns) — click a column for its distribution`,
      table(
        [
          { title: "column", value: (s) => code(s.name) },
          { title: "type", value: (s) => s.type },
          { title: "count", class: "num", value: (s) => fmtNum(s.count) },
          { title: "nulls", class: "num", value: (s) => (s.nulls ? `${fmtNum(s.nulls)} (${fmtPct(s.count ? s.nulls / s.count : 0)})` : "0") },
          { title: "distinct ≈", class: "num", value: (s) => fmtNum(s.distinct) },
          { title: "min", class: "num", value: (s) => fmtNum(s.min) },
          { title: "max", class: "num", value: (s) => fmtNum(s.max) },
          { title: "mean", class: "num", value: (s) => fmtNum(s.mean) },
        ],
        v.stats,
        { rowClass: () => "clickable", onRow: (s) => showColumn(s) },
      ),
    ),
    card("Check report", checksTable(detail.checks, detail.run)),
  );
  // a measurement (a floating point column) says more than an id or a code
  const first = v.stats.find((s) => s.histogram && /DOUBLE|FLOAT|REAL|DECIMAL/.test(s.type))
    || v.stats.find((s) => s.histogram);
  if (first) showColumn(first);
  else histogram.replaceWith(empty("No column has a histogram."));
  const diffBox = h("div");
  root.append(diffBox);
  if (versions.length > 1) diffSection(diffBox, name, versions, v);
  const lineageBox = h("div");
  root.append(lineageBox);
  try {
    const graph = await api("lineage", { ref: `${v.dataset}@${v.id}` });
    if (graph.nodes.length > 1) lineageBox.append(lineageCard(graph, `Lineage of ${v.dataset}@v${v.number}`));
  } catch (error) {
    showError(lineageBox, error);
  }
}

function histogramOption(stats) {
  const hist = stats.histogram || {};
  if (hist.edges) {
    const labels = hist.counts.map((_, i) => `${fmtNum(hist.edges[i], 3)}–${fmtNum(hist.edges[i + 1], 3)}`);
    return barOption({ labels, series: [{ name: "rows", values: hist.counts }], yName: "rows" });
  }
  const values = hist.values || [];
  return barOption({ labels: values.map(String), series: [{ name: "rows", values: hist.counts || [] }], yName: "rows", horizontal: values.length > 8 });
}

function checksTable(checks, run) {
  if (!run) return empty("This version was not made by a pipeline run: no check report.");
  if (!checks.length) return empty("The pipeline run checked nothing for this dataset.");
  return table(
    [
      { title: "check", value: (c) => [code(c.name), h("div", { class: "sub" }, c.check)] },
      { title: "column", value: (c) => c.column || "–" },
      { title: "policy", value: (c) => c.policy },
      { title: "result", value: (c) => pill(c.passed ? "passed" : "failed") },
      { title: "rows", class: "num", value: (c) => fmtNum(c.rows) },
      { title: "failed rows", class: "num", value: (c) => `${fmtNum(c.failed_rows)} (${fmtPct(c.failed_pct / 100)})` },
      { title: "sample / message", value: (c) => [c.message || "", c.sample?.length ? h("div", { class: "sub mono" }, c.sample.slice(0, 5).map(String).join(", ")) : null] },
    ],
    checks,
  );
}

function diffSection(box, name, versions, current) {
  const older = versions.find((x) => x.number < current.number) || versions.find((x) => x.number !== current.number);
  const option = (x, chosen) => h("option", { value: `v${x.number}`, selected: x.number === chosen }, `v${x.number} · ${x.id.slice(0, 8)}`);
  const a = h("select", { name: "diff-a" }, versions.map((x) => option(x, older.number)));
  const b = h("select", { name: "diff-b" }, versions.map((x) => option(x, current.number)));
  const out = h("div");
  const draw = async () => {
    clear(out);
    try {
      drawDiff(out, await api(`datasets/${encodeURIComponent(name)}/diff`, { a: a.value, b: b.value }));
    } catch (error) {
      showError(out, error);
    }
  };
  a.addEventListener("change", draw);
  b.addEventListener("change", draw);
  box.append(card("Diff", h("div", { class: "toolbar" }, "from ", a, " to ", b), out));
  draw();
}

function drawDiff(out, diff) {
  if (diff.identical) {
    out.append(empty("The two versions hold the same data."));
    return;
  }
  const change = (c) => (c.change === null ? `${fmtNum(c.a)} → ${fmtNum(c.b)}` : `${fmtNum(c.a)} → ${fmtNum(c.b)} (${c.change > 0 ? "+" : ""}${fmtNum(c.change)})`);
  const schema = diff.schema;
  out.append(
    facts([
      ["rows", change(diff.rows)],
      ["size", `${fmtBytes(diff.size.a)} → ${fmtBytes(diff.size.b)}`],
      ["appended", diff.appended ? `yes (${diff.shared_parts} shared parts)` : "no"],
      ["columns added", schema.added.length ? schema.added.map((c) => `${c.name}: ${c.type}`).join(", ") : "–"],
      ["columns removed", schema.removed.length ? schema.removed.map((c) => `${c.name}: ${c.type}`).join(", ") : "–"],
      ["type changes", schema.type_changes.length ? schema.type_changes.map((c) => `${c.name}: ${c.a} → ${c.b}`).join(", ") : "–"],
    ]),
  );
  const drifted = diff.columns.filter((c) => c.drift);
  if (drifted.length) {
    const box = chartBox("chart small");
    out.append(h("h3", {}, "drift per column (PSI; 0.1 moderate, 0.25 major)"), box);
    chart(box, barOption({ labels: drifted.map((c) => c.name), series: [{ name: "PSI", values: drifted.map((c) => c.drift.psi) }] }));
  }
  out.append(
    table(
      [
        { title: "column", value: (c) => code(c.name) },
        { title: "type", value: (c) => (c.type_a === c.type_b ? c.type_a : `${c.type_a} → ${c.type_b}`) },
        ...["count", "nulls", "mean", "min", "max"].map((k) => ({ title: k, class: "num", value: (c) => (c.stats[k] ? (c.stats[k].changed ? change(c.stats[k]) : fmtNum(c.stats[k].a)) : "–") })),
        { title: "drift", value: (c) => (c.drift ? [pill(c.drift.level), ` PSI ${fmtNum(c.drift.psi, 3)}`] : "–") },
      ],
      diff.columns,
      { rowClass: (c) => (c.changed ? "differs" : "") },
    ),
  );
}

// -- pipelines ------------------------------------------------------------------------

async function renderPipeline(root, name) {
  const data = await api(`pipelines/${encodeURIComponent(name)}`);
  const d = data.definition;
  root.append(...head(name, d?.description || "pipeline", link("#/data", "Data"), "pipelines"));
  if (data.error) root.append(h("div", { class: "warning" }, `The definition does not load: ${data.error}`));
  if (d) {
    root.append(
      h(
        "div", { class: "grid three" },
        card("Definition", facts([["schedule", d.schedule ? code(d.schedule) : "–"], ["module", d.module ? code(d.module) : "–"]])),
        card(
          "Sources",
          table(
            [{ title: "source", value: ([n]) => code(n) }, { title: "kind", value: ([, s]) => s.kind }, { title: "reads", value: ([, s]) => code(s.pattern || s.query || s.stream || s.dataset || "") }],
            Object.entries(d.sources),
          ),
        ),
        card(
          "Steps and loads",
          h("ol", {}, d.steps.map((s) => h("li", {}, code(s.name), ` ${s.kind}`, s.inputs.length ? h("span", { class: "muted" }, ` ← ${s.inputs.join(", ")}`) : null))),
          h("ul", {}, d.loads.map((l) => h("li", {}, code(l.from), " → ", link(dsHref(l.dataset), l.dataset), ` (${l.mode}, ${l.checks.length} checks${l.quarantine ? `, quarantine ${l.quarantine}` : ""})`))),
        ),
      ),
    );
  }
  const durations = chartBox("chart small");
  root.append(
    card(`Runs (${data.runs.length} most recent)`, data.runs.length > 1 ? durations : null, runsTable(data.runs)),
  );
  if (data.runs.length > 1) {
    const ordered = [...data.runs].reverse();
    chart(durations, {
      ...barOption({
        labels: ordered.map((r) => r.logical_date || fmtTime(r.started_at)),
        series: [{ name: "seconds", values: ordered.map((r) => (r.ended_at ? (r.ended_at - r.started_at) / 1000 : null)) }],
        yName: "seconds",
      }),
    });
  }
}

function runsTable(runs) {
  if (!runs.length) return empty("Never run.");
  return table(
    [
      { title: "run", value: (r) => link(runHref(r.id), r.id.slice(0, 12)) },
      { title: "status", value: (r) => pill(r.status) },
      { title: "logical date", value: (r) => r.logical_date || "–" },
      { title: "started", value: (r) => fmtTime(r.started_at) },
      { title: "duration", class: "num", value: (r) => fmtDuration(r.ended_at ? r.ended_at - r.started_at : null) },
      { title: "rows added", class: "num", value: (r) => fmtNum(r.outputs.reduce((n, o) => n + (o.rows_added || 0), 0)) },
      { title: "checks failed", class: "num", value: (r) => `${r.checks_failed} / ${r.checks}` },
      { title: "error", value: (r) => (r.error ? r.error.message : "") },
    ],
    runs,
  );
}

async function renderPipelineRun(root, id) {
  const run = await api(`pipeline-runs/${encodeURIComponent(id)}`);
  root.append(
    ...head(`${run.pipeline} run`, null, link("#/data", "Data"), link(pipelineHref(run.pipeline), run.pipeline)),
    h("div", { class: "page-head" }, pill(run.status), h("span", { class: "sub mono" }, run.id)),
  );
  if (run.error) root.append(h("div", { class: "error" }, `${run.error.code}: ${run.error.message}`));
  const files = run.inputs.flatMap((i) => (i.files || []).map((f) => ({ ...f, source: i.source })));
  root.append(
    h(
      "div", { class: "grid two" },
      card(
        "Overview",
        facts([
          ["logical date", run.logical_date || "–"],
          ["started", fmtTime(run.started_at)],
          ["ended", fmtTime(run.ended_at)],
          ["duration", fmtDuration(run.ended_at ? run.ended_at - run.started_at : null)],
          ["attempts", run.attempts],
          ["code", run.code?.module ? code(run.code.module) : "–"],
          ["code digest", run.code?.digest ? shortId(run.code.digest, 19) : "–"],
          ["git commit", run.code?.git_commit ? code(run.code.git_commit.slice(0, 12)) : "–"],
        ]),
      ),
      card(
        "Outputs",
        run.outputs.length
          ? table(
            [
              { title: "dataset", value: (o) => link(dsHref(o.dataset, o.version.slice(0, 12)), `${o.dataset} v${o.number}`) },
              { title: "kind", value: (o) => o.kind },
              { title: "rows added", class: "num", value: (o) => fmtNum(o.rows_added) },
              { title: "rows", class: "num", value: (o) => fmtNum(o.rows) },
            ],
            run.outputs,
          )
          : empty("No dataset version was written."),
      ),
    ),
    card(
      `Inputs (${files.length} files)`,
      files.length
        ? table(
          [
            { title: "source", value: (f) => code(f.source) },
            { title: "file", value: (f) => code(f.uri) },
            { title: "sha256", value: (f) => shortId(f.digest, 19) },
            { title: "size", class: "num", value: (f) => fmtBytes(f.size) },
          ],
          files,
        )
        : table(
          [{ title: "source", value: (i) => code(i.source || "?") }, { title: "kind", value: (i) => i.kind }, { title: "details", value: (i) => code(JSON.stringify(i).slice(0, 160)) }],
          run.inputs,
        ),
    ),
    ...Object.entries(run.report).map(([dataset, checks]) => card(`Checks of ${dataset}`, checksTable(checks, run))),
  );
}
