// Models: registered models; a model's versions (with their runs' metrics), aliases and
// their history; one version's signature, training run and lineage graph.
import {
  PALETTE, api, card, chart, chartBox, code, empty, facts, fmtNum, fmtTime, h, lineOption, lineageCard, link,
  pill, shortId, table,
} from "../lib.js";

export async function render(root, route) {
  if (!route.parts.length) return renderList(root);
  return renderModel(root, route.parts[0], route.parts[1]);
}

function aliasPills(aliases) {
  return Object.entries(aliases || {}).map(([alias, version]) => pill(`${alias} → v${version}`, "alias"));
}

async function renderList(root) {
  const models = await api("models");
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Models"), h("span", { class: "sub" }, "the model registry")));
  if (!models.length) {
    root.append(card(null, empty("No registered model yet: registry.register(name, model) or modelyard quickstart.")));
    return;
  }
  root.append(
    card(
      null,
      table(
        [
          { title: "model", value: (m) => link(`#/models/${encodeURIComponent(m.name)}`, m.name) },
          { title: "versions", class: "num", value: (m) => m.latest_version },
          { title: "aliases", value: (m) => aliasPills(m.aliases) },
          { title: "updated", class: "nowrap", value: (m) => fmtTime(m.updated_at) },
          { title: "description", value: (m) => m.description || "" },
        ],
        models,
        { rowClass: () => "clickable", onRow: (m, e) => { if (!e.target.closest("a")) location.hash = `#/models/${encodeURIComponent(m.name)}`; } },
      ),
    ),
  );
}

async function renderModel(root, name, wanted) {
  const data = await api(`models/${encodeURIComponent(name)}`);
  const { model, versions, history } = data;
  const chosen = Number(wanted) || model.aliases.champion || model.latest_version;
  const keys = [...new Set(versions.flatMap((v) => Object.keys(v.run?.metrics || {})))].sort().slice(0, 4);
  const base = `#/models/${encodeURIComponent(name)}`;
  root.append(
    h("div", { class: "crumbs" }, link("#/models", "Models")),
    h("div", { class: "page-head" }, h("h1", {}, model.name), aliasPills(model.aliases), h("span", { class: "sub" }, model.description || "")),
  );
  const versionTable = table(
    [
      { title: "version", value: (v) => link(`${base}/${v.version}`, `v${v.version}`) },
      { title: "aliases", value: (v) => v.aliases.map((a) => pill(a, "alias")) },
      { title: "flavor", value: (v) => v.flavor },
      { title: "created", class: "nowrap", value: (v) => fmtTime(v.created_at) },
      { title: "run", value: (v) => (v.run ? link(`#/runs/${v.run.id}`, v.run.name) : "–") },
      ...keys.map((k) => ({ title: k, class: "num", headerClass: "metric", value: (v) => fmtNum(v.run?.metrics?.[k]) })),
    ],
    versions,
    {
      rowClass: (v) => `clickable${v.version === chosen ? " selected" : ""}`,
      onRow: (v, e) => { if (!e.target.closest("a")) location.hash = `${base}/${v.version}`; },
    },
  );
  const timeline = chartBox("chart small");
  const historyTable = history.length
    ? table(
      [
        { title: "when", class: "nowrap", value: (e) => fmtTime(e.at) },
        { title: "alias", value: (e) => pill(e.alias, "alias") },
        { title: "action", value: (e) => e.action },
        { title: "version", value: (e) => (e.version ? `v${e.version}` : "–") },
        { title: "before", value: (e) => (e.previous_version ? `v${e.previous_version}` : "–") },
        { title: "by", value: (e) => e.actor || "–" },
        { title: "reason", value: (e) => e.reason || "" },
      ],
      history,
    )
    : empty("No alias was ever set.");
  root.append(
    h(
      "div", { class: "grid two" },
      card(`Versions (${versions.length})`, versionTable),
      card("Aliases and their history", history.length ? timeline : null, historyTable),
    ),
  );
  if (history.length) chart(timeline, aliasTimeline(history));
  if (versions.length > 1 && keys.length) {
    const box = chartBox("chart small");
    root.append(card("Metrics by version", box));
    const ordered = [...versions].reverse();
    chart(box, lineOption({
      xName: "version",
      series: keys.map((k) => ({ name: k, x: ordered.map((v) => v.version), y: ordered.map((v) => v.run?.metrics?.[k] ?? null) })),
    }));
  }
  if (chosen) await renderVersion(root, name, chosen);
}

/** Which version each alias pointed at over time: a step line per alias. */
function aliasTimeline(history) {
  const byAlias = new Map();
  for (const event of [...history].reverse()) {
    if (!byAlias.has(event.alias)) byAlias.set(event.alias, []);
    byAlias.get(event.alias).push([event.at, event.version]);
  }
  const now = Date.now();
  return {
    color: PALETTE,
    tooltip: { trigger: "axis" },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    grid: { left: 44, right: 16, top: 30, bottom: 28 },
    xAxis: { type: "time" },
    yAxis: { type: "value", minInterval: 1, scale: true, name: "version", axisLabel: { formatter: (v) => `v${v}` } },
    series: [...byAlias].map(([alias, points]) => ({
      name: alias,
      type: "line",
      step: "end",
      symbolSize: 7,
      data: [...points, [now, points.at(-1)[1]]],
    })),
  };
}

async function renderVersion(root, name, version) {
  const data = await api(`models/${encodeURIComponent(name)}/versions/${version}`);
  const v = data.version;
  const run = data.run;
  const signature = v.signature;
  root.append(
    h("h2", { class: "section-title" }, `Version ${v.version}`),
    h(
      "div", { class: "grid three" },
      card(
        "Overview",
        facts([
          ["uri", code(v.uri)],
          ["flavor", v.flavor],
          ["digest", shortId(v.digest, 23)],
          ["created", fmtTime(v.created_at)],
          ["aliases", v.aliases.length ? v.aliases.map((a) => pill(a, "alias")) : "–"],
          ["description", v.description],
          ["training run", run ? link(`#/runs/${run.id}`, `${run.experiment}/${run.name}`) : "–"],
        ]),
      ),
      card("Signature", signatureView(signature)),
      card(
        "Training run metrics",
        run && Object.keys(run.metrics).length
          ? table(
            [{ title: "metric", value: ([k]) => code(k) }, { title: "value", class: "num", value: ([, x]) => fmtNum(x) }],
            Object.entries(run.metrics).sort(),
          )
          : empty("No training run metrics."),
        run && Object.keys(run.params).length ? h("h3", {}, "params") : null,
        run && Object.keys(run.params).length
          ? table([{ title: "param", value: ([k]) => code(k) }, { title: "value", value: ([, x]) => x }], Object.entries(run.params).sort())
          : null,
      ),
    ),
    lineageCard(data.lineage, `Lineage of models:/${name}/${version}`),
  );
}

function signatureView(signature) {
  if (!signature) return empty("No signature (registered without an input example).");
  const part = (title, schema) => {
    if (!schema) return [h("h3", {}, title), empty("unknown")];
    if (schema.tensor) return [h("h3", {}, title), code(`tensor ${schema.tensor.dtype} [${schema.tensor.shape.join(", ")}]`)];
    return [
      h("h3", {}, `${title} (${schema.columns.length})`),
      table([{ title: "name", value: (c) => code(c.name) }, { title: "type", value: (c) => c.dtype }], schema.columns),
    ];
  };
  return [part("inputs", signature.inputs), part("outputs", signature.outputs)];
}
