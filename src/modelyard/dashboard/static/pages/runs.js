// Runs: a paged, server-side search in the CLI's filter language; metric charts over steps
// for the selected runs; a side-by-side comparison; one run with its lineage.
import {
  ApiError, api, barOption, card, chart, chartBox, clear, code, empty, facts, filterIdent, fmtDuration,
  fmtNum, fmtTime, h, lineOption, lineageCard, link, pill, shortId, showError, table,
} from "../lib.js";

const AUTO_SELECT = 5;
const MAX_SELECTED = 10;
const MAX_CHART_KEYS = 8;
const EXAMPLES = [
  "metrics.roc_auc > 0.9",
  "params.model = 'hist_gradient_boosting'",
  "status = 'FINISHED' and start_time > 0",
  "name like 'log%' or tags.source = 'quickstart'",
];

export async function render(root, route) {
  if (route.parts.length) return renderRun(root, route.parts[0]);
  const page = new RunsPage(root, route.query);
  await page.start();
  return page;
}

class RunsPage {
  constructor(root, query) {
    this.root = root;
    this.filter = query.get("filter") || "";
    this.order = query.get("order") || "";
    this.experiment = query.get("experiment") || "";
    this.size = Number(query.get("size")) || 50;
    this.tokens = [null];
    this.index = 0;
    this.runs = [];
    this.selected = new Map();
    this.wanted = query.has("sel") ? query.get("sel").split(",").filter(Boolean) : null;
    this.firstPaint = true;
  }

  async start() {
    const experiments = await api("experiments");
    this.input = h("input", {
      class: "grow", name: "filter", value: this.filter, spellcheck: "false", autocomplete: "off",
      placeholder: "filter, e.g. metrics.roc_auc > 0.9 and params.model = 'hgb'",
    });
    this.experimentSelect = h(
      "select", { name: "experiment", title: "experiment" },
      h("option", { value: "" }, "all experiments"),
      experiments.map((e) => h("option", { value: e.name, selected: e.name === this.experiment }, e.name)),
    );
    this.sizeSelect = h(
      "select", { name: "size", title: "runs per page" },
      [25, 50, 100, 200].map((n) => h("option", { value: n, selected: n === this.size }, `${n} / page`)),
    );
    this.errorBox = h("div", { class: "error", role: "alert", hidden: true });
    const form = h(
      "form", { class: "toolbar", onsubmit: (event) => { event.preventDefault(); this.search(); } },
      this.input, this.experimentSelect, this.sizeSelect, h("button", { class: "primary", type: "submit" }, "Search"),
    );
    const hint = h(
      "div", { class: "hint" }, "Same language as ", code("modelyard runs list --filter"), ": ",
      EXAMPLES.map((text, i) => [i ? " · " : "", h("a", { href: "#", onclick: (e) => { e.preventDefault(); this.input.value = text; this.search(); } }, text)]),
    );
    this.tableBox = h("div", { class: "runs-table" }, h("p", { class: "muted" }, "Loading runs…"));
    this.pager = h("div", { class: "pager" });
    this.chartsBox = h("div");
    this.compareBox = h("div");
    this.root.append(
      h("div", { class: "page-head" }, h("h1", {}, "Runs"), h("span", { class: "sub" }, "search, chart and compare training runs")),
      card(null, form, hint, this.errorBox),
      card(null, this.tableBox, this.pager),
      this.chartsBox,
      this.compareBox,
    );
    await this.load();
  }

  search() {
    this.filter = this.input.value.trim();
    this.experiment = this.experimentSelect.value;
    this.size = Number(this.sizeSelect.value);
    this.tokens = [null];
    this.index = 0;
    this.reload();
  }

  remember() {
    const params = new URLSearchParams();
    if (this.filter) params.set("filter", this.filter);
    if (this.order) params.set("order", this.order);
    if (this.experiment) params.set("experiment", this.experiment);
    if (this.size !== 50) params.set("size", this.size);
    if (this.wanted !== null || this.selected.size) params.set("sel", [...this.selected.keys()].join(","));
    const text = params.toString();
    history.replaceState(null, "", `#/runs${text ? `?${text}` : ""}`);
  }

  async load() {
    let page;
    try {
      page = await api("runs", {
        filter: this.filter,
        order_by: this.order,
        experiment: this.experiment,
        max_results: this.size,
        page_token: this.tokens[this.index],
      });
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        this.errorBox.textContent = error.message;
        this.errorBox.hidden = false;
        this.input.classList.add("invalid");
        return;
      }
      throw error;
    }
    this.errorBox.hidden = true;
    this.input.classList.remove("invalid");
    this.runs = page.runs;
    this.tokens[this.index + 1] = page.next_page_token;
    this.pickDefaults();
    this.renderTable();
    if (this.firstPaint) {
      performance.mark("runs-table");
      this.firstPaint = false;
    }
    this.remember();
    await this.renderSelection();
  }

  /** Run ``load`` from an event handler: a failure shows in the page. */
  reload() {
    this.load().catch((error) => showError(this.tableBox, error));
  }

  pickDefaults() {
    const byId = new Map(this.runs.map((r) => [r.id, r]));
    for (const id of this.selected.keys()) if (byId.has(id)) this.selected.set(id, byId.get(id));
    if (this.wanted !== null) {
      for (const id of this.wanted) if (byId.has(id)) this.selected.set(id, byId.get(id));
      this.wanted = null;
      this.touched = true;
    }
    if (!this.touched && this.selected.size === 0) {
      for (const run of this.runs.slice(0, AUTO_SELECT)) this.selected.set(run.id, run);
    }
  }

  mentioned() {
    return `${this.filter} ${this.order}`;
  }

  columns() {
    const mentioned = this.mentioned();
    // those the filter or ordering mention first, then those that vary the most
    const pick = (prefix, field, n) => {
      const keys = [...new Set(this.runs.flatMap((r) => Object.keys(r[field])))];
      const spread = new Map(keys.map((k) => [k, new Set(this.runs.map((r) => String(r[field][k]))).size]));
      const named = (k) => mentioned.includes(`${prefix}.${k}`);
      return keys.sort((a, b) => named(b) - named(a) || spread.get(b) - spread.get(a) || a.localeCompare(b)).slice(0, n);
    };
    const params = pick("params", "params", 3);
    const metrics = pick("metrics", "metrics", 4);
    const experiments = new Set(this.runs.map((r) => r.experiment));
    const columns = [
      {
        title: "", class: "check",
        value: (r) => h("input", {
          type: "checkbox", checked: this.selected.has(r.id), title: "chart and compare",
          onclick: (event) => { event.stopPropagation(); this.toggle(r, event.target.checked); },
        }),
      },
      {
        title: "run",
        sort: "run_name",
        help: "name and id; below, the model versions registered from it and the datasets it read",
        value: (r) => [link(`#/runs/${r.id}`, r.name), h("span", { class: "sub mono" }, ` ${r.id.slice(0, 8)}`), lineageLinks(r)],
      },
    ];
    if (experiments.size > 1) columns.push({ title: "experiment", sort: "experiment", value: (r) => r.experiment });
    columns.push(
      { title: "status", sort: "status", value: (r) => pill(r.status) },
      { title: "started", class: "nowrap", sort: "start_time", value: (r) => fmtTime(r.start_time) },
      { title: "duration", class: "num nowrap", value: (r) => fmtDuration(r.duration_ms) },
      ...params.map((k) => ({ title: k, headerClass: "param", sort: filterIdent("params", k), help: `params.${k}`, value: (r) => r.params[k] ?? "–" })),
      ...metrics.map((k) => ({ title: k, class: "num", headerClass: "metric", sort: filterIdent("metrics", k), help: `metrics.${k} (latest)`, value: (r) => fmtNum(r.metrics[k]) })),
    );
    return columns;
  }

  renderTable() {
    const [key, direction] = this.order.split(/\s+/);
    const sorted = this.order ? { key, desc: (direction || "").toUpperCase() === "DESC" } : null;
    clear(this.tableBox);
    if (!this.runs.length) {
      this.tableBox.append(empty(this.filter ? "No run matches this filter." : "No runs yet: start one with modelyard.start_run()."));
    } else {
      this.tableBox.append(
        table(this.columns(), this.runs, {
          sorted,
          onSort: (column) => this.sortBy(column.sort),
          rowClass: (r) => `clickable${this.selected.has(r.id) ? " selected" : ""}`,
          onRow: (r, event) => {
            if (event.target.closest("a, input")) return;
            this.toggle(r, !this.selected.has(r.id));
          },
        }),
      );
    }
    const first = this.index * this.size + 1;
    clear(this.pager).append(
      h("span", { class: "muted" }, this.runs.length ? `runs ${first}–${first + this.runs.length - 1}` : ""),
      h("button", { type: "button", disabled: this.index === 0, onclick: () => { this.index -= 1; this.reload(); } }, "‹ Previous"),
      h("button", { type: "button", disabled: !this.tokens[this.index + 1], onclick: () => { this.index += 1; this.reload(); } }, "Next ›"),
    );
  }

  sortBy(key) {
    const [current, direction] = this.order.split(/\s+/);
    const desc = current === key ? (direction || "").toUpperCase() !== "DESC" : true;
    this.order = `${key} ${desc ? "DESC" : "ASC"}`;
    this.tokens = [null];
    this.index = 0;
    this.reload();
  }

  toggle(run, on) {
    this.touched = true;
    if (on && this.selected.size >= MAX_SELECTED) {
      alert(`Chart and compare at most ${MAX_SELECTED} runs at a time.`);
      this.renderTable();
      return;
    }
    if (on) this.selected.set(run.id, run);
    else this.selected.delete(run.id);
    this.renderTable();
    this.remember();
    this.renderSelection().catch((error) => showError(this.chartsBox, error));
  }

  async renderSelection() {
    const runs = [...this.selected.values()];
    await Promise.all([this.renderCharts(runs), this.renderCompare(runs)]);
  }

  async renderCharts(runs) {
    clear(this.chartsBox);
    if (!runs.length) {
      this.chartsBox.append(card("Metrics", empty("Select runs in the table to chart their metrics over steps.")));
      return;
    }
    const mentioned = this.mentioned();
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))]
      .sort((a, b) => (mentioned.includes(b) - mentioned.includes(a)) || a.localeCompare(b))
      .slice(0, MAX_CHART_KEYS);
    if (!keys.length) {
      this.chartsBox.append(card("Metrics", empty("The selected runs logged no metrics.")));
      return;
    }
    const grid = h("div", { class: "charts" });
    this.chartsBox.append(
      h("h2", { class: "section-title" }, `Metrics of ${runs.length} selected run${runs.length > 1 ? "s" : ""}`),
      grid,
    );
    const { series } = await api("runs/metrics", { run: runs.map((r) => r.id), key: keys, points: 500 });
    const names = new Map(runs.map((r) => [r.id, runLabel(r)]));
    for (const key of keys) {
      const mine = series.filter((s) => s.key === key);
      if (!mine.length) continue;
      const box = chartBox();
      grid.append(card(key, box));
      const single = mine.every((s) => s.steps.length <= 1);
      chart(
        box,
        single
          ? barOption({ horizontal: true, labels: mine.map((s) => names.get(s.run_id)), series: [{ name: key, values: mine.map((s) => s.values.at(-1)) }] })
          : lineOption({ series: mine.map((s) => ({ name: names.get(s.run_id), x: s.steps, y: s.values })) }),
      );
    }
  }

  async renderCompare(runs) {
    clear(this.compareBox);
    if (runs.length < 2) return;
    const data = await api("runs/compare", { run: runs.map((r) => r.id) });
    const onlyDiff = h("input", { type: "checkbox", name: "only-differences" });
    const holder = h("div");
    const draw = () => {
      const rows = onlyDiff.checked ? data.rows.filter((r) => r.differs) : data.rows;
      clear(holder).append(
        table(
          [
            { title: "field", value: (row) => h("span", { class: "mono" }, row.field) },
            ...data.runs.map((run, i) => ({
              title: h("a", { href: `#/runs/${run.id}` }, runLabel(run)),
              class: "num",
              value: (row) => (row.field === "duration_ms" ? fmtDuration(row.values[i]) : fmtNum(row.values[i])),
            })),
          ],
          rows,
          { rowClass: (row) => (row.differs ? "differs" : "") },
        ),
      );
    };
    onlyDiff.addEventListener("change", draw);
    draw();
    this.compareBox.append(
      card(
        `Comparison of ${runs.length} runs`,
        h("label", { class: "hint" }, onlyDiff, " only rows that differ (highlighted)"),
        holder,
      ),
    );
  }
}

function runLabel(run) {
  return `${run.name} · ${run.id.slice(0, 6)}`;
}

/** ``name@<id>`` with the id cut to ``n`` hex digits (12, as the CLI shows it). */
function shortRef(ref, n = 12) {
  const [name, version] = ref.split("@");
  return version ? `${name}@${version.slice(0, n)}` : name;
}

function datasetHref(ref) {
  const [name, version] = ref.split("@");
  return `#/data/datasets/${encodeURIComponent(name)}/${encodeURIComponent((version || "latest").slice(0, 12))}`;
}

function lineageLinks(run) {
  const datasets = (run.inputs || []).filter((i) => i.kind === "dataset_version");
  const models = run.models || [];
  if (!datasets.length && !models.length) return null;
  const shown = datasets.slice(0, 1);
  return h(
    "div", { class: "chips" },
    models.map((m) => link(`#/models/${encodeURIComponent(m.name)}/${m.version}`, `◆ ${m.name} v${m.version}`, { title: "registered from this run" })),
    shown.map((i) => link(datasetHref(i.ref), `⛁ ${shortRef(i.ref, 8)}`, { title: `read ${i.ref} (${i.role})` })),
    datasets.length > shown.length ? link(`#/runs/${run.id}`, `+${datasets.length - shown.length} more`, { class: "muted" }) : null,
  );
}

// -- one run --------------------------------------------------------------------------

async function renderRun(root, id) {
  const { run, models } = await api(`runs/${encodeURIComponent(id)}`);
  const keys = Object.keys(run.metrics).sort();
  root.append(
    h("div", { class: "crumbs" }, link("#/runs", "Runs"), " / ", run.experiment),
    h("div", { class: "page-head" }, h("h1", {}, run.name), pill(run.status), h("span", { class: "sub mono" }, run.id)),
  );
  const inputs = run.inputs.map((i) =>
    h("li", {}, i.kind === "dataset_version" ? link(datasetHref(i.ref), shortRef(i.ref), { title: i.ref }) : code(`${i.kind}:${i.ref}`), h("span", { class: "muted" }, ` (${i.role})`)),
  );
  root.append(
    h(
      "div", { class: "grid two" },
      card(
        "Overview",
        facts([
          ["experiment", run.experiment],
          ["started", fmtTime(run.start_time)],
          ["ended", fmtTime(run.end_time)],
          ["duration", fmtDuration(run.end_time ? run.end_time - run.start_time : null)],
          ["user", run.user],
          ["git commit", run.git_commit ? code(run.git_commit.slice(0, 12)) : null],
          ["source", run.source ? code(run.source) : null],
          ["parent run", run.parent_run_id ? link(`#/runs/${run.parent_run_id}`, run.parent_run_id.slice(0, 12)) : null],
        ]),
      ),
      card(
        "Lineage",
        h("h3", {}, "read"),
        inputs.length ? h("ul", {}, inputs) : empty("No recorded inputs."),
        h("h3", {}, "registered as"),
        models.length
          ? h("ul", {}, models.map((m) => h("li", {}, link(`#/models/${encodeURIComponent(m.name)}/${m.version}`, `models:/${m.name}/${m.version}`))))
          : empty("No model version was registered from this run."),
      ),
    ),
    h(
      "div", { class: "grid two" },
      card("Params", pairsTable(Object.entries(run.params).sort())),
      card(
        "Metrics (latest)",
        keys.length
          ? table(
            [{ title: "metric", value: (k) => code(k) }, { title: "value", class: "num", value: (k) => fmtNum(run.metrics[k].value) }, { title: "step", class: "num", value: (k) => run.metrics[k].step }],
            keys,
          )
          : empty("No metrics."),
      ),
    ),
  );
  const chartsBox = h("div", { class: "charts" });
  root.append(chartsBox);
  if (Object.keys(run.tags).length) root.append(card("Tags", pairsTable(Object.entries(run.tags).sort())));
  if (run.artifacts.length) {
    root.append(
      card(
        "Artifacts",
        table(
          [
            { title: "path", value: (a) => code(a.path) },
            { title: "digest", value: (a) => shortId(a.digest, 19) },
            { title: "size", class: "num", value: (a) => fmtNum(a.size) },
          ],
          run.artifacts,
        ),
      ),
    );
  }
  const lineageBox = h("div");
  root.append(lineageBox);
  const charted = keys.slice(0, 20);
  const [{ series }, graph] = await Promise.all([
    charted.length ? api("runs/metrics", { run: [run.id], key: charted, points: 1000 }) : { series: [] },
    api("lineage", { ref: run.id }).catch((error) => error),
  ]);
  for (const s of series.filter((x) => x.steps.length > 1)) {
    const box = chartBox();
    chartsBox.append(card(s.key, box));
    chart(box, lineOption({ series: [{ name: s.key, x: s.steps, y: s.values }], legend: false }));
  }
  if (graph instanceof Error) showError(lineageBox, graph);
  else if (graph.nodes.length > 1) lineageBox.append(lineageCard(graph));
}

function pairsTable(pairs) {
  if (!pairs.length) return empty("None.");
  return table(
    [{ title: "key", value: ([k]) => code(k) }, { title: "value", value: ([, v]) => v }],
    pairs,
  );
}
