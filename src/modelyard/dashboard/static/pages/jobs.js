// Jobs: the durable queue. Jobs per state as a chart, the newest jobs filtered by status
// and kind (one page at a time), scheduled pipelines, the kinds workers run, and one job
// whole: payload, result, error with its traceback, attempts and progress.
import {
  api, append, card, chart, chartBox, clear, code, empty, facts, fmtDuration, fmtNum, fmtTime, h, link, pill,
  showError, shortId, table,
} from "../lib.js";

const STATES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "DEAD", "CANCELLED"];
const STATE_COLOR = {
  QUEUED: "#6b7a8f", RUNNING: "#3b6fd8", SUCCEEDED: "#1a7f37", FAILED: "#cf222e", DEAD: "#82071e", CANCELLED: "#d4a017",
};
const STATE_KIND = { QUEUED: "queued", RUNNING: "running", SUCCEEDED: "succeeded", FAILED: "failed", DEAD: "failed", CANCELLED: "skipped" };
const PAGE_SIZE = 50;
const MAX_JOBS = 500;

export async function render(root, route) {
  if (route.parts.length) return renderJob(root, route.parts[0]);
  return renderList(root, route.query);
}

const jobHref = (id) => `#/jobs/${encodeURIComponent(id)}`;

function listHref(status, kind) {
  const query = new URLSearchParams();
  if (status) query.set("status", status);
  if (kind) query.set("kind", kind);
  const text = query.toString();
  return `#/jobs${text ? `?${text}` : ""}`;
}

function statusPill(job) {
  const text = job.retrying ? "QUEUED (retry)" : job.status;
  return pill(text, STATE_KIND[job.status]);
}

function progressOf(progress) {
  if (!progress) return "–";
  const { stage, done, total } = progress;
  const share = total ? Math.min(1, (done || 0) / total) : null;
  return h(
    "span", { class: "nowrap", title: JSON.stringify(progress) },
    share === null ? null : h("progress", { max: 1, value: share, style: "width:70px;vertical-align:middle;margin-right:6px" }),
    [stage, total ? `${fmtNum(done ?? 0)}/${fmtNum(total)}` : done !== undefined && done !== null ? fmtNum(done) : null].filter((x) => x !== null && x !== undefined).join(" "),
  );
}

function duration(job) {
  if (!job.started_at || job.status === "QUEUED") return "–"; // not started, or waiting to retry
  return fmtDuration((job.ended_at || Date.now()) - job.started_at);
}

// -- the list -------------------------------------------------------------------------

async function renderList(root, query) {
  const status = (query.get("status") || "").toUpperCase();
  const kind = query.get("kind") || "";
  const summary = await api("jobs/summary");
  const total = Object.values(summary.counts).reduce((a, b) => a + b, 0);
  const statusSelect = h(
    "select", { name: "status", title: "status" },
    h("option", { value: "" }, `every status (${fmtNum(total)})`),
    STATES.map((s) => h("option", { value: s, selected: s === status }, `${s.toLowerCase()} (${fmtNum(summary.counts[s] || 0)})`)),
  );
  const kindSelect = h(
    "select", { name: "kind", title: "kind" },
    h("option", { value: "" }, "every kind"),
    summary.kinds.map((k) => h("option", { value: k.name, selected: k.name === kind }, k.name)),
    kind && !summary.kinds.some((k) => k.name === kind) ? h("option", { value: kind, selected: true }, `${kind} (not registered)`) : null,
  );
  const go = () => { location.hash = listHref(statusSelect.value, kindSelect.value); };
  statusSelect.addEventListener("change", go);
  kindSelect.addEventListener("change", go);
  const counts = chartBox("chart small");
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const heading = h("h2", {}, "Jobs");
  let limit = PAGE_SIZE;
  const load = async (wanted) => {
    try {
      const data = await api("jobs", { status, kind, limit: wanted });
      limit = wanted;
      heading.textContent = `Jobs (${data.jobs.length}${data.more ? "+" : ""}, newest first)`;
      clear(list).append(jobsTable(data.jobs));
      if (data.more && wanted < MAX_JOBS) {
        const next = Math.min(MAX_JOBS, wanted * 2);
        list.append(h("div", { class: "pager" }, h("button", { type: "button", class: "more", onclick: () => load(next) }, `Show up to ${next}`)));
      } else if (data.more) {
        list.append(h("p", { class: "muted small" }, `The newest ${MAX_JOBS} are shown: filter by status or kind to see others.`));
      }
    } catch (error) {
      clear(list);
      showError(list, error, () => load(wanted));
    }
  };
  append(root, [
    h("div", { class: "page-head" }, h("h1", {}, "Jobs"), h("span", { class: "sub" }, "the durable queue that workers run (modelyard worker)")),
    summary.kinds_error ? h("div", { class: "warning" }, `A job kind module does not load, so only the built-in kinds are listed: ${summary.kinds_error}`) : null,
    h(
      "div", { class: "grid two" },
      card(`Jobs per state (${fmtNum(total)} in all)`, counts, h("p", { class: "muted small" }, "Click a bar to list the jobs in that state.")),
      card(
        "Schedules",
        summary.schedules_error ? h("div", { class: "warning" }, `The pipeline definitions do not load: ${summary.schedules_error}`) : null,
        schedulesTable(summary),
        h("h3", {}, "kinds workers run"),
        table(
          [
            { title: "kind", value: (k) => link(listHref("", k.name), k.name) },
            { title: "description", value: (k) => k.description || "" },
          ],
          summary.kinds,
        ),
      ),
    ),
    h(
      "section", { class: "card" },
      h("div", { class: "toolbar" }, heading, h("span", { class: "grow" }), statusSelect, kindSelect, h("button", { type: "button", onclick: () => refresh() }, "Refresh")),
      list,
    ),
  ]);
  const drawCounts = async (numbers) => {
    const instance = await chart(counts, countsOption(numbers));
    instance?.off("click");
    instance?.on("click", (p) => { location.hash = listHref(p.name, kindSelect.value); });
  };
  const refresh = async () => {
    try {
      await Promise.all([api("jobs/summary").then((fresh) => drawCounts(fresh.counts)), load(limit)]);
    } catch (error) {
      showError(list, error);
    }
  };
  await Promise.all([drawCounts(summary.counts), load(limit)]);
}

function countsOption(counts) {
  return {
    tooltip: { trigger: "axis", valueFormatter: (v) => fmtNum(v) },
    grid: { left: 48, right: 16, top: 14, bottom: 28 },
    xAxis: { type: "category", data: STATES, axisLabel: { fontSize: 11 } },
    yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: (v) => fmtNum(v, 3) } },
    series: [
      {
        name: "jobs",
        type: "bar",
        barMaxWidth: 40,
        cursor: "pointer",
        label: { show: true, position: "top", fontSize: 11 },
        data: STATES.map((s) => ({ value: counts[s] || 0, itemStyle: { color: STATE_COLOR[s] } })),
      },
    ],
  };
}

function schedulesTable(summary) {
  if (!summary.schedules.length) return empty("No pipeline has a schedule.");
  return [
    summary.schedules_enabled ? null : h("div", { class: "warning" }, "Workers do not enqueue scheduled runs here ([jobs] schedules = false)."),
    table(
      [
        { title: "pipeline", value: (s) => link(`#/data/pipelines/${encodeURIComponent(s.pipeline)}`, s.pipeline) },
        { title: "schedule", value: (s) => code(s.schedule) },
        { title: "next tick", class: "nowrap", value: (s) => (s.next_fire ? fmtTime(s.next_fire) : h("span", { class: "muted" }, "every interval from a worker's start")) },
      ],
      summary.schedules,
    ),
  ];
}

function jobsTable(jobs) {
  if (!jobs.length) return empty("No job matches: enqueue one with modelyard jobs enqueue KIND or ws.jobs.enqueue(kind, payload).");
  return table(
    [
      { title: "job", value: (j) => link(jobHref(j.id), j.id.slice(0, 12), { class: "mono", title: j.id }) },
      { title: "kind", value: (j) => j.kind },
      { title: "status", value: (j) => [statusPill(j), j.cancel_requested && j.status === "RUNNING" ? pill("cancelling", "warn") : null] },
      { title: "attempts", class: "num", value: (j) => `${j.attempts} / ${j.max_attempts}` },
      { title: "progress", value: (j) => progressOf(j.progress) },
      { title: "payload", value: (j) => code(j.payload) },
      { title: "created", class: "nowrap", value: (j) => fmtTime(j.created_at) },
      { title: "ran", class: "num nowrap", value: (j) => duration(j) },
      { title: "error", value: (j) => (j.error ? [code(j.error.code), h("div", { class: "sub" }, j.error.message)] : "") },
    ],
    jobs,
    { rowClass: () => "clickable", onRow: (j, e) => { if (!e.target.closest("a")) location.hash = jobHref(j.id); } },
  );
}

// -- one job --------------------------------------------------------------------------

async function renderJob(root, id) {
  const job = await api(`jobs/${encodeURIComponent(id)}`);
  const retrying = job.status === "QUEUED" && job.attempts > 0;
  append(root, [
    h("div", { class: "crumbs" }, link("#/jobs", "Jobs"), " / ", link(listHref("", job.kind), job.kind)),
    h("div", { class: "page-head" }, h("h1", {}, `${job.kind} job`), statusPill({ ...job, retrying }), h("span", { class: "sub mono" }, job.id)),
    job.error ? h("div", { class: "error", role: "alert" }, `attempt ${job.error.attempt}: ${job.error.code}: ${job.error.message}`) : null,
    h(
      "div", { class: "grid two" },
      card(
        "Overview",
        facts([
          ["status", job.status],
          ["attempts", `${job.attempts} of ${job.max_attempts}`],
          ["priority", job.priority],
          ["idempotency key", job.idempotency_key ? code(job.idempotency_key) : "–"],
          ["created", fmtTime(job.created_at)],
          ["run after", job.run_after > Date.now() ? `${fmtTime(job.run_after)} (in ${fmtDuration(job.run_after - Date.now())})` : fmtTime(job.run_after)],
          ["started", fmtTime(job.started_at)],
          ["ended", fmtTime(job.ended_at)],
          ["ran for", duration(job)],
          ["worker", job.lease_owner ? code(job.lease_owner) : "–"],
          ["lease until", fmtTime(job.lease_expires_at)],
          ["cancel requested", job.cancel_requested ? "yes" : "no"],
          ["progress", progressOf(job.progress)],
        ]),
      ),
      card("Payload", json(job.payload)),
    ),
    card("Result", job.result ? json(job.result) : empty(job.status === "SUCCEEDED" ? "The job returned nothing." : "No result yet.")),
    job.error
      ? card(
        "Error of the last attempt",
        facts([
          ["code", code(job.error.code)],
          ["type", job.error.type || "–"],
          ["attempt", job.error.attempt ?? "–"],
          ["message", job.error.message],
        ]),
        job.error.traceback ? h("details", {}, h("summary", {}, "traceback"), h("pre", { class: "mono small" }, job.error.traceback)) : null,
      )
      : null,
    h("p", { class: "muted small" }, "Cancel or retry with modelyard jobs cancel|retry ", shortId(job.id, 12), "."),
  ]);
}

function json(value) {
  return h("pre", { class: "mono small", style: "margin:0;white-space:pre-wrap;overflow-wrap:anywhere" }, JSON.stringify(value, null, 2));
}
