"""``modelyard gate`` (model CI) and ``modelyard automate run|canaries|canary``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_value

if TYPE_CHECKING:
    from modelyard.automation import GateResult, GateTest

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("gate")
def gate_command(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument(help="The version to judge: fraud/5, fraud@latest.")],
    against: Annotated[
        str, typer.Option("--against", help="An alias of the same model, or a model URI.")
    ] = "champion",
    deployment: Annotated[
        str | None,
        typer.Option("--deployment", "-d", help="Whose labelled production data to score."),
    ] = None,
    holdout: Annotated[
        str | None,
        typer.Option("--holdout", help="A dataset ref (name@version) or a .parquet/.csv file."),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="The holdout's label.")] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="roc_auc, accuracy, f1, log_loss, rmse...")
    ] = None,
    margin: Annotated[float, typer.Option("--margin", help="How much better it must be.")] = 0.0,
    test: Annotated[
        str, typer.Option("--test", help="paired_bootstrap or mcnemar.")
    ] = "paired_bootstrap",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    window: Annotated[
        str, typer.Option("--window", help="How far back production labels are read.")
    ] = "7d",
    require_production: Annotated[
        bool,
        typer.Option("--require-production", help="Fail without labelled production data."),
    ] = False,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Write the verdict to the audit log.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Judge a candidate against the champion; exit status 1 when it is not better."""
    from modelyard.automation import gate

    result = gate(
        open_workspace(ctx),
        candidate,
        against,
        holdout=holdout,
        label=label,
        deployment=deployment,
        window=window,
        metric=metric,
        margin=margin,
        test=cast("GateTest", test),  # checked by gate, with a clear message
        alpha=alpha,
        require_production=require_production,
        record=record,
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        print_gate(result)
    if not result.passed:
        raise typer.Exit(code=1)


def print_gate(result: GateResult) -> None:
    """The verdict in one line, then the evidence table."""
    colour = "green" if result.passed else "red"
    console.print(f"[bold {colour}]{result.summary}[/]", soft_wrap=True)
    table = Table(
        "check",
        "status",
        "metric",
        "candidate",
        "champion",
        "improvement",
        "95% interval",
        "p-value",
        "rows",
        "why",
    )
    for check in result.checks:
        interval = (
            f"[{fmt_value(check.low)}, {fmt_value(check.high)}]"
            if check.low is not None or check.high is not None
            else "-"
        )
        table.add_row(
            check.name,
            str(check.status),
            check.metric or "-",
            fmt_value(check.candidate),
            fmt_value(check.champion),
            fmt_value(check.improvement),
            interval,
            fmt_value(check.p_value),
            fmt_value(check.samples),
            check.reason,
        )
    console.print(table)
