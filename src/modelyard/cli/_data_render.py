"""How ``modelyard data`` draws its objects for people: runs, check reports, column
statistics with sparklines, diffs and lineage trees (``--json`` prints the to_dict()s)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.tree import Tree

from modelyard.cli._output import console, fmt_duration, fmt_time, fmt_value, stderr

if TYPE_CHECKING:
    from modelyard.data import DatasetVersion, Pipeline, PipelineRun
    from modelyard.data._diff import DatasetDiff, StatChange
    from modelyard.data._lineage import LineageGraph, LineageNode

__all__ = [
    "print_diff",
    "print_outcome",
    "print_pipeline",
    "print_report",
    "print_run",
    "print_version",
    "progress_bars",
    "sparkline",
    "status",
    "tree",
]

_STATUS_STYLE = {"SUCCEEDED": "green", "RUNNING": "cyan", "FAILED": "red", "SKIPPED": "yellow"}
_DRIFT_STYLE = {"moderate": "yellow", "major": "red"}
_SPARK = "▁▂▃▄▅▆▇█"


@contextmanager
def progress_bars(*, enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A pipeline progress callback drawing one bar per stage on stderr (when stderr is a
    terminal: logs get the outcome only)."""
    bars = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr,
        transient=True,
        disable=not (enabled and stderr.is_terminal),
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars:
        yield update


def status(run: PipelineRun) -> str:
    return f"[{_STATUS_STYLE.get(str(run.status), 'white')}]{run.status}[/]"


def _took(run: PipelineRun) -> str:
    return fmt_duration(run.ended_at - run.started_at if run.ended_at else None)


def print_outcome(run: PipelineRun) -> None:
    """Status, versions written, quarantined rows and failed or warned checks."""
    date = f"  date {run.logical_date}" if run.logical_date else ""
    console.print(f"{status(run)} {run.pipeline} run {run.id[:12]}  {_took(run)}{date}")
    if str(run.status) == "SKIPPED":
        console.print("  nothing new to load; no version was made")
    for out in run.outputs:
        what = "quarantined" if out["kind"] == "quarantine" else "loaded"
        console.print(
            f"  {out['dataset']}@v{out['number']} ({out['version'][:12]}): {what} "
            f"{out['rows_added']} row(s), {out['rows']} in all"
        )
    if run.error:
        console.print(f"  [red]error[/] {run.error.get('message')}")
    if run.report:
        print_report(run.report, failed_only=True)


def print_report(
    report: dict[str, list[dict[str, Any]]],
    *,
    failed_only: bool = False,
    out: Console | None = None,
) -> None:
    """A check report: a count per dataset and a table of checks (only failing ones)."""
    out = out or console
    for dataset, results in report.items():
        failed = [r for r in results if not r["passed"]]
        out.print(f"  checks on {dataset}: {len(results) - len(failed)}/{len(results)} passed")
        shown = failed if failed_only else results
        if not shown:
            continue
        table = Table("check", "column", "result", "failed rows", "sample", "message", box=None)
        for r in shown:
            mark = "[green]passed[/]" if r["passed"] else f"[red]{r['policy']}[/]"
            rows = f"{r['failed_rows']} ({r['failed_pct']:.2f}%)" if r["failed_rows"] else "0"
            sample = ", ".join(fmt_value(v) for v in r.get("sample") or [])[:40]
            column = r.get("column") or "-"
            table.add_row(r["name"], column, mark, rows, sample, r.get("message") or "")
        out.print(table)


def sparkline(histogram: dict[str, list[Any]] | None) -> str:
    """Bin or value counts as a row of block characters, scaled to the largest."""
    counts = (histogram or {}).get("counts") or []
    if not counts:
        return ""
    top = max(counts) or 1
    last = len(_SPARK) - 1
    return "".join(_SPARK[min(round(c / top * last), last)] for c in counts)


def _short(value: Any, width: int = 24) -> str:
    text = fmt_value(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_version(version: DatasetVersion, made_by: PipelineRun | None) -> None:
    """A dataset version: header, schema with statistics, parts and the run that made it."""
    console.print(
        f"[bold]{version.dataset}@v{version.number}[/]  {version.id}\n"
        f"{version.rows} row(s), {version.size} bytes, {len(version.parts)} part(s), "
        f"created {fmt_time(version.created_at)}, parent {(version.parent_id or '-')[:12]}"
    )
    table = Table(
        "column",
        "type",
        "count",
        "nulls",
        "distinct",
        "min",
        "max",
        "mean",
        "histogram",
        title="columns",
        title_justify="left",
    )
    stats = {s.name: s for s in version.stats}
    for name, type_ in version.schema:
        s = stats.get(name)
        if s is None:
            table.add_row(name, type_, *["-"] * 7)
            continue
        table.add_row(
            name,
            type_,
            str(s.count),
            str(s.nulls),
            fmt_value(s.distinct),
            _short(s.min),
            _short(s.max),
            fmt_value(s.mean),
            sparkline(s.histogram),
        )
    console.print(table)
    parts = Table("part", "rows", "bytes", title="parts", title_justify="left", box=None)
    for part in version.parts:
        parts.add_row(part.digest[:19] + "…", str(part.rows), str(part.size))
    console.print(parts)
    if made_by is not None:
        console.print(f"made by {made_by.pipeline} run {made_by.id} {status(made_by)}")
        if version.dataset in made_by.report:
            print_report({version.dataset: made_by.report[version.dataset]})


def print_pipeline(pipeline: Pipeline, runs: list[PipelineRun]) -> None:
    """A pipeline's definition and its recent runs."""
    console.print(f"[bold]pipeline {pipeline.name}[/]  schedule {pipeline.schedule or '-'}")
    console.print(f"defined in {pipeline.module or '-'}")
    if pipeline.description:
        console.print(pipeline.description)
    info = pipeline.describe()
    for source, described in info["sources"].items():
        extra = {k: v for k, v in described.items() if k != "kind" and v not in (None, {}, "")}
        console.print(f"  source {source} ({described['kind']}): {extra}")
    for step in info["steps"]:
        console.print(f"  step {step['name']} ({step['kind']}) <- {', '.join(step['inputs'])}")
    for load in info["loads"]:
        checks = ", ".join(str(c.get("name", "?")) for c in load["checks"]) or "no checks"
        console.print(f"  load {load['from']} -> {load['dataset']} ({load['mode']}; {checks})")
    table = Table(
        "run",
        "status",
        "date",
        "started",
        "took",
        "rows added",
        title="recent runs",
        title_justify="left",
    )
    for r in runs:
        added = sum(o["rows_added"] for o in r.outputs if o["kind"] == "data")
        table.add_row(
            r.id[:12],
            status(r),
            r.logical_date or "-",
            fmt_time(r.started_at),
            _took(r),
            str(added),
        )
    console.print(table)


def print_run(run: PipelineRun) -> None:
    """A pipeline run: outcome, code version, inputs, full check report, error."""
    print_outcome(run)
    code = run.code or {}
    console.print(
        f"code {code.get('module') or '-'}  {code.get('digest') or ''}  "
        f"git {code.get('git_commit') or '-'}"
    )
    table = Table("source", "kind", "read", title="inputs", title_justify="left", box=None)
    for item in run.inputs:
        table.add_row(item["source"], item["kind"], _describe_input(item))
    console.print(table)
    if run.report:
        print_report(run.report)


def _describe_input(item: dict[str, Any]) -> str:
    kind = item["kind"]
    if kind == "files":
        lines = [f"{f['uri']}  {f['digest'][:19]}…  {f['size']} B" for f in item["files"]]
        return "\n".join([*lines, f"({item.get('skipped', 0)} unchanged file(s) skipped)"])
    if kind == "dataset":
        parts = len(item.get("parts", []))
        return f"{item['dataset']}@v{item['number']} ({item['version'][:12]}), {parts} part(s)"
    if kind == "stream":
        first, last = item.get("first_id"), item.get("last_id")
        return f"{item.get('stream')} {first}..{last} ({item.get('events')} events)"
    skip = ("source", "kind")
    return ", ".join(f"{k}={_short(v, 60)}" for k, v in item.items() if k not in skip)


def _change(stat: StatChange) -> str:
    if not stat.changed:
        return fmt_value(stat.a)
    rel = f" ({stat.relative:+.1%})" if stat.relative is not None else ""
    return f"{_short(stat.a, 12)} → {_short(stat.b, 12)}{rel}"


def print_diff(change: DatasetDiff) -> None:
    """Rows, schema changes and a table of column statistics and drift."""
    how = "same as" if change.identical else "appends to" if change.appended else "vs"
    console.print(f"[bold]{change.b}[/] {how} [bold]{change.a}[/]: rows {_change(change.rows)}")
    for n, t in change.added:
        console.print(f"  [green]+ {n} {t}[/]")
    for n, t in change.removed:
        console.print(f"  [red]- {n} {t}[/]")
    for n, ta, tb in change.type_changes:
        console.print(f"  [yellow]~ {n} {ta} → {tb}[/]")
    keys = ("nulls", "distinct", "min", "max", "mean")
    table = Table("column", *keys, "PSI", "drift", title="columns", title_justify="left")
    for c in change.columns:
        cells = [_change(c.stats[k]) if k in c.stats else "-" for k in keys]
        level = str(c.drift.level) if c.drift else "-"
        style = _DRIFT_STYLE.get(level)
        table.add_row(
            c.name,
            *cells,
            f"{c.drift.psi:.3f}" if c.drift else "-",
            f"[{style}]{level}[/]" if style else level,
        )
    console.print(table)


def _node_label(node: LineageNode) -> str:
    a = node.attributes
    if node.kind == "source_file":
        return f"[cyan]file[/] {node.label}  {str(a.get('digest'))[:19]}…"
    if node.kind == "dataset_version":
        return f"[green]dataset[/] {node.label}, {a.get('rows')} row(s)"
    if node.kind == "pipeline_run":
        return f"[magenta]pipeline run[/] {node.label} {a.get('status')}"
    return f"[bold]{node.kind.replace('_', ' ')}[/] {node.label}"


def tree(graph: LineageGraph) -> Tree:
    """The upstream graph as a tree from its root, each branch reading ``<relation> <node>``;
    a node reached again is not expanded twice."""
    root = graph.node(graph.root)
    top = Tree(_node_label(root))
    expanded: set[str] = set()
    # depth first, children pushed in reverse so that they are drawn in order
    stack: list[tuple[Tree, str, LineageNode]] = [
        (top, edge.relation, up) for edge, up in reversed(graph.upstream(root.id))
    ]
    expanded.add(root.id)
    while stack:
        parent, relation, node = stack.pop()
        upstream = graph.upstream(node.id)
        label = f"[dim]{relation}[/] {_node_label(node)}"
        if node.id in expanded and upstream:
            parent.add(f"{label} [dim](shown above)[/]")
            continue
        expanded.add(node.id)
        branch = parent.add(label)
        stack.extend((branch, edge.relation, up) for edge, up in reversed(upstream))
    return top
