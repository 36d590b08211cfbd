"""``modelyard data run|list|show|diff|lineage``: pipelines and versioned datasets."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelyard.cli import _data_render as render
from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_time, stderr
from modelyard.errors import CheckFailedError, ModelyardError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.data import PipelineRun

data_app = typer.Typer(help="Data pipelines and versioned datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
_RUN_ID = re.compile(r"^[0-9a-f]{6,32}$")


@data_app.command("run")
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    date: Annotated[
        str | None, typer.Option("--date", help="Logical date YYYY-MM-DD (fills {ds}).")
    ] = None,
    backfill: Annotated[
        str | None, typer.Option("--backfill", help="START..END: one run per day, in order.")
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Read everything again, not only what is new.")
    ] = False,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            metavar="SCHEDULE",
            help="Run again on a cron expression or an interval (30s, 15m) until Ctrl-C; "
            "'schedule' uses the pipeline's own schedule.",
        ),
    ] = None,
    max_runs: Annotated[int | None, typer.Option("--max-runs", hidden=True, min=1)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a pipeline once, once per day of a range, or on a schedule."""
    ws = open_workspace(ctx)
    if sum(x is not None for x in (date, backfill, every)) > 1:
        raise ValidationError("give at most one of --date, --backfill and --every")
    if every is not None:
        _loop(ws, name, every, full_refresh, max_runs, as_json)
        return
    days: list[str | None] = [date] if backfill is None else _days(backfill)
    done = []
    for day in days:
        done.append(_run_once(ws, name, day, full_refresh, as_json))
        if not as_json:
            render.print_outcome(done[-1])
    if as_json:
        emit_json(done[0].to_dict() if backfill is None else [r.to_dict() for r in done])


def _days(text: str) -> list[str | None]:
    match = _RANGE.match(text)
    if not match:
        raise ValidationError(f"--backfill {text!r} is not START..END (YYYY-MM-DD..YYYY-MM-DD)")
    try:
        start, end = (dt.date.fromisoformat(d) for d in match.groups())
    except ValueError as exc:
        raise ValidationError(f"--backfill {text!r}: {exc}") from None
    if end < start:
        raise ValidationError(f"backfill range {text} ends before it starts")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _run_once(
    ws: Workspace, name: str, date: str | None, full_refresh: bool, as_json: bool
) -> PipelineRun:
    """One run with progress bars; a failure prints its report (or, with ``--json``, the
    failed run) before it is raised again."""
    pipeline = ws.pipelines.get(name)
    try:
        with render.progress_bars(enabled=not as_json) as progress:
            return ws.pipelines.run(
                pipeline, logical_date=date, full_refresh=full_refresh, progress=progress
            )
    except ModelyardError as exc:
        latest = ws.pipelines.runs(pipeline.name, limit=1)
        if as_json and latest and str(latest[0].status) == "FAILED":
            _json_line(latest[0].to_dict())
        elif isinstance(exc, CheckFailedError):
            render.print_report(exc.report, out=stderr)
        raise


def _loop(
    ws: Workspace, name: str, every: str, full_refresh: bool, max_runs: int | None, as_json: bool
) -> None:
    """Run, then sleep until the schedule fires again; a failed run is reported and the
    loop goes on. Ctrl-C ends it (exit status 0)."""
    from modelyard.data import next_fire

    schedule = ws.pipelines.get(name).schedule if every == "schedule" else every
    if not schedule:
        raise ValidationError(f"pipeline {name!r} has no schedule; give --every SCHEDULE")
    next_fire(schedule, dt.datetime.now(dt.UTC))  # a bad schedule fails before any run
    count = 0
    try:
        while True:
            count += 1  # counted when started: a run stopped by Ctrl-C is recorded as failed
            try:
                finished = _run_once(ws, name, None, full_refresh, as_json)
                _json_line(finished.to_dict()) if as_json else render.print_outcome(finished)
            except Exception as exc:  # one failed run does not stop the loop
                message = exc.message if isinstance(exc, ModelyardError) else repr(exc)
                stderr.print(f"[red]Error:[/] {' '.join(message.split())}", soft_wrap=True)
            if max_runs is not None and count >= max_runs:
                return
            now = dt.datetime.now(dt.UTC)
            fire = next_fire(schedule, now)
            if not as_json:
                console.print(f"[dim]next run at {fire:%Y-%m-%d %H:%M:%S} UTC[/]")
            time.sleep(max((fire - now).total_seconds(), 0.0))
    except KeyboardInterrupt:
        stderr.print(f"stopped after {count} run(s)")


def _json_line(data: Any) -> None:
    """One JSON object on one line (``--every --json`` prints a stream of them)."""
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


@data_app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Pipelines (schedule, sources, last run) and datasets (versions, latest)."""
    ws = open_workspace(ctx)
    pipelines = ws.pipelines.definitions()
    last = {name: next(iter(ws.pipelines.runs(name, limit=1)), None) for name in pipelines}
    found = ws.datasets.list()
    if as_json:
        emit_json(
            {
                "pipelines": [{**p.describe(), "last_run": last[n]} for n, p in pipelines.items()],
                "datasets": [
                    {"name": d.name, "kind": d.kind, "versions": d.versions, "latest": d.latest}
                    for d in found
                ],
            }
        )
        return
    table = Table(
        "pipeline",
        "schedule",
        "sources",
        "last run",
        "started",
        title="pipelines",
        title_justify="left",
    )
    for name, p in pipelines.items():
        sources = ", ".join(f"{n} ({s.kind})" for n, s in p.sources.items())
        r = last[name]
        when = fmt_time(r.started_at if r else None)
        table.add_row(name, p.schedule or "-", sources, render.status(r) if r else "-", when)
    console.print(table)
    table = Table(
        "dataset",
        "kind",
        "versions",
        "latest rows",
        "latest id",
        "created",
        title="datasets",
        title_justify="left",
    )
    for d in found:
        v = d.latest
        table.add_row(
            d.name,
            d.kind,
            str(d.versions),
            str(v.rows) if v else "-",
            v.id[:12] if v else "-",
            fmt_time(v.created_at if v else None),
        )
    console.print(table)


@data_app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="A dataset version (NAME@v3, NAME@latest), pipeline or run id.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """A dataset version (schema, statistics, parts, its run), a pipeline or a pipeline run.

    A bare NAME is the pipeline of that name if there is one, else the dataset's latest
    version; write NAME@latest for the dataset.
    """
    ws = open_workspace(ctx)
    if "@" not in ref:
        definitions = ws.pipelines.definitions()
        if ref in definitions:
            runs = ws.pipelines.runs(ref, limit=10)
            if as_json:
                emit_json(
                    {"pipeline": definitions[ref].describe(), "runs": [r.to_dict() for r in runs]}
                )
            else:
                render.print_pipeline(definitions[ref], runs)
            return
        if _RUN_ID.match(ref):
            try:
                found = ws.pipelines.get_run(ref)
            except NotFoundError:
                pass
            else:
                emit_json(found.to_dict()) if as_json else render.print_run(found)
                return
    version = ws.datasets.get(ref)
    made_by = None
    if version.run_id is not None:
        with contextlib.suppress(NotFoundError):
            made_by = ws.pipelines.get_run(version.run_id)
    if as_json:
        emit_json({"version": version.to_dict(), "run": made_by.to_dict() if made_by else None})
        return
    render.print_version(version, made_by)


@data_app.command("diff")
def diff(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="The baseline version, e.g. transactions@v1.")],
    b: Annotated[str, typer.Argument(help="The version compared with it, e.g. transactions.")],
    as_json: JsonOpt = False,
) -> None:
    """Schema, row count, column statistics and drift (PSI) between two dataset versions."""
    from modelyard.data._diff import diff as diff_versions

    ws = open_workspace(ctx)
    change = diff_versions(ws.datasets.get(a), ws.datasets.get(b))
    emit_json(change.to_dict()) if as_json else render.print_diff(change)


@data_app.command("lineage")
def lineage(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            help="A dataset version, pipeline run id, training run id or model URI "
            "(models:/fraud@champion)."
        ),
    ],
    openlineage: Annotated[
        bool,
        typer.Option(
            "--openlineage",
            help="Print the OpenLineage events of the pipeline run (of a run id, or of the run "
            "that made a dataset version) as JSON lines.",
        ),
    ] = False,
    namespace: Annotated[
        str, typer.Option("--namespace", help="OpenLineage namespace of jobs and datasets.")
    ] = "modelyard",
    as_json: JsonOpt = False,
) -> None:
    """Everything REF was made from: runs, dataset versions, source files (with their
    sha256), stream ranges, queries and code."""
    from modelyard.data._lineage import lineage as walk
    from modelyard.data._openlineage import openlineage_events

    ws = open_workspace(ctx)
    if openlineage:
        for event in openlineage_events(
            _pipeline_run(ws, ref), datasets=ws.datasets, namespace=namespace
        ):
            _json_line(event)
        return
    graph = walk(
        ref, datasets=ws.datasets, runner=ws.pipelines, tracking=ws.tracking, registry=ws.registry
    )
    emit_json(graph.to_dict()) if as_json else console.print(render.tree(graph))


def _pipeline_run(ws: Workspace, ref: str) -> PipelineRun:
    """The pipeline run ``ref`` names, or that made the dataset version ``ref`` names."""
    if "@" not in ref and _RUN_ID.match(ref):
        try:
            return ws.pipelines.get_run(ref)
        except NotFoundError:
            pass
    version = ws.datasets.get(ref)
    if version.run_id is None:
        raise ValidationError(f"{version.ref} was not made by a pipeline run")
    try:
        return ws.pipelines.get_run(version.run_id)
    except NotFoundError:
        raise ValidationError(f"{version.ref} was not made by a pipeline run") from None
