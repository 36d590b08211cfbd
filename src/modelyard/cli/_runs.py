"""``modelyard runs list|show|compare`` and ``modelyard experiments list``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_duration, fmt_time, fmt_value
from modelyard.tracking import Run

runs_app = typer.Typer(help="Search, show and compare runs.", no_args_is_help=True)
experiments_app = typer.Typer(help="List experiments.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(experiments_app, name="experiments")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_STATUS_STYLE = {"FINISHED": "green", "RUNNING": "cyan", "FAILED": "red", "KILLED": "yellow"}


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    experiment: Annotated[
        list[str] | None, typer.Option("--experiment", "-e", help="Only these experiments.")
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            help="e.g. \"metrics.auc > 0.9 and (params.model = 'hgb' or tags.stage = 'prod')\"",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", "-o", help="e.g. 'metrics.auc desc'.")
    ] = None,
    max_results: Annotated[int, typer.Option("--max-results", "-n", min=1)] = 50,
    page_token: Annotated[str | None, typer.Option("--page-token")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search runs with a filter, newest first unless ordered otherwise."""
    page = open_workspace(ctx).tracking.search_runs(
        experiments=experiment,
        filter=filter_,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
    )
    if as_json:
        emit_json(
            {"runs": [r.to_dict() for r in page.runs], "next_page_token": page.next_page_token}
        )
        return
    mentioned = " ".join([filter_ or "", *(order_by or [])])
    metric_keys = _columns({k for r in page.runs for k in r.metrics}, "metrics.", mentioned, 4)
    param_keys = _columns({k for r in page.runs for k in r.params}, "params.", mentioned, 2)
    show_experiment = len({r.experiment for r in page.runs}) > 1
    table = Table(
        title=f"{len(page.runs)} run(s); [magenta]params[/] and [cyan]metrics[/] (--json has all)",
        title_justify="left",
    )
    table.add_column("run id", no_wrap=True)
    if show_experiment:
        table.add_column("experiment")
    for column in ("name", "status", "started", "duration"):
        table.add_column(column, no_wrap=column != "name")
    for key in param_keys:
        table.add_column(key, header_style="magenta")
    for key in metric_keys:
        table.add_column(key, justify="right", header_style="cyan")
    for run in page.runs:
        table.add_row(
            run.id[:12],
            *([run.experiment] if show_experiment else []),
            run.name,
            _status(run),
            fmt_time(run.start_time),
            fmt_duration(run.duration_ms),
            *(run.params.get(k, "-") for k in param_keys),
            *(fmt_value(run.metrics[k].value) if k in run.metrics else "-" for k in metric_keys),
        )
    console.print(table)
    if page.next_page_token:
        console.print(f"more: --page-token {page.next_page_token}")


@runs_app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of one.")],
    as_json: JsonOpt = False,
) -> None:
    """Everything about one run: attributes, params, metrics, tags, artifacts, lineage."""
    tracking = open_workspace(ctx).tracking
    run = tracking.get_run(tracking.resolve_run_id(run_id))
    if as_json:
        emit_json(run.to_dict())
        return
    console.print(f"[bold]{run.name}[/]  {run.id}  {_status(run)}")
    console.print(
        f"experiment {run.experiment}  started {fmt_time(run.start_time)}  "
        f"duration {fmt_duration(run.duration_ms)}  git {run.git_commit or '-'}  "
        f"user {run.user or '-'}"
    )
    if run.parent_run_id:
        console.print(f"parent run {run.parent_run_id}")
    _pairs("params", sorted(run.params.items()))
    _pairs(
        "metrics (latest)",
        [(k, f"{fmt_value(m.value)}  (step {m.step})") for k, m in sorted(run.metrics.items())],
    )
    _pairs("tags", sorted(run.tags.items()))
    _pairs(
        "artifacts",
        [
            (a.path, f"{a.digest}  {a.size} bytes{'  (folder)' if a.is_dir else ''}")
            for a in run.artifacts
        ],
    )
    _pairs("inputs", [(f"{i.kind}:{i.ref}", f"{i.role} {i.digest or ''}") for i in run.inputs])


@runs_app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique prefixes).")],
    as_json: JsonOpt = False,
) -> None:
    """Params and metrics of several runs side by side; differing rows are highlighted."""
    tracking = open_workspace(ctx).tracking
    if len(run_ids) < 2:
        raise typer.BadParameter("compare needs at least two runs")
    runs = [tracking.get_run(tracking.resolve_run_id(r)) for r in run_ids]
    rows = _comparison(runs)
    if as_json:
        emit_json(
            {
                "runs": [r.to_dict() for r in runs],
                "rows": [{"field": f, "values": v, "differs": d} for f, v, d in rows],
            }
        )
        return
    table = Table(title="run comparison", title_justify="left")
    table.add_column("field")
    for run in runs:
        table.add_column(f"{run.name}\n{run.id[:12]}")
    for field, values, differs in rows:
        style = "bold yellow" if differs else None
        table.add_row(field, *(fmt_value(v) for v in values), style=style)
    console.print(table)


def _comparison(runs: list[Run]) -> list[tuple[str, list[object], bool]]:
    rows: list[tuple[str, list[object], bool]] = [
        ("status", [str(r.status) for r in runs], False),
        ("duration", [fmt_duration(r.duration_ms) for r in runs], False),
    ]
    for key in sorted({k for r in runs for k in r.params}):
        values: list[object] = [r.params.get(key) for r in runs]
        rows.append((f"params.{key}", values, len({str(v) for v in values}) > 1))
    for key in sorted({k for r in runs for k in r.metrics}):
        values = [r.metrics[key].value if key in r.metrics else None for r in runs]
        rows.append((f"metrics.{key}", values, len({fmt_value(v) for v in values}) > 1))
    return rows


@experiments_app.command("list")
def list_experiments(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every experiment."""
    found = open_workspace(ctx).tracking.experiments()
    if as_json:
        emit_json([{"id": e.id, "name": e.name, "created_at": e.created_at} for e in found])
        return
    table = Table("name", "id", "created")
    for e in found:
        table.add_row(e.name, e.id, fmt_time(e.created_at))
    console.print(table)


def _columns(keys: set[str], prefix: str, mentioned: str, limit: int) -> list[str]:
    """Up to ``limit`` keys, those the filter or ordering mention first."""
    return sorted(keys, key=lambda k: (f"{prefix}{k}" not in mentioned, k))[:limit]


def _status(run: Run) -> str:
    return f"[{_STATUS_STYLE.get(str(run.status), 'white')}]{run.status}[/]"


def _pairs(title: str, items: list[tuple[str, str]]) -> None:
    if not items:
        return
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for key, value in items:
        table.add_row(key, value)
    console.print(table)
