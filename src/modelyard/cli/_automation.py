"""``modelyard gate`` (model CI) and ``modelyard automate run|canaries|canary``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_time, fmt_value, stderr
from modelyard.errors import ModelyardError, ValidationError

if TYPE_CHECKING:
    from modelyard.automation import AutomationRound, Canary, GateResult, GateTest

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


# -- modelyard automate ---------------------------------------------------------------------

automate_app = typer.Typer(
    help="Retraining policies, training recipes and canaries.", no_args_is_help=True
)
canary_app = typer.Typer(help="Start, advance or end a deployment's canary.", no_args_is_help=True)
automate_app.add_typer(canary_app, name="canary")
app.add_typer(automate_app, name="automate")


@automate_app.command("run")
def automate_run(
    ctx: typer.Context,
    every: Annotated[
        str | None,
        typer.Option(
            "--every", metavar="INTERVAL", help="Repeat every INTERVAL (1m) until Ctrl-C."
        ),
    ] = None,
    alerts: Annotated[
        bool, typer.Option("--alerts/--no-alerts", help="Evaluate the alert rules first.")
    ] = True,
    max_rounds: Annotated[int | None, typer.Option("--max-rounds", hidden=True, min=1)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate alert rules and retraining policies (enqueueing retrain jobs for a worker),
    and advance running canaries: once, or every INTERVAL."""
    from modelyard.automation import run_automation
    from modelyard.data._checks_table import parse_duration

    ws = open_workspace(ctx)
    pause = parse_duration(every).total_seconds() if every is not None else None
    rounds = 0
    try:
        while True:
            rounds += 1
            try:
                done = run_automation(ws, alerts=alerts)
            except ModelyardError as exc:
                if pause is None:
                    raise
                stderr.print(f"[red]round {rounds} failed:[/] {exc.message}")  # goes on
            else:
                emit_json(done.to_dict()) if as_json else _print_round(done)
            if pause is None or (max_rounds is not None and rounds >= max_rounds):
                return
            time.sleep(pause)
    except KeyboardInterrupt:
        return


def _print_round(done: AutomationRound) -> None:
    for alert in done.alerts:
        console.print(f"alert {alert.rule} {alert.status}: {alert.evidence.get('condition')}")
    for trigger in done.triggered:
        console.print(
            f"retraining {trigger.deployment} (job {trigger.job.id}): {'; '.join(trigger.reasons)}"
        )
    for canary in done.canaries:
        console.print(_canary_line(canary))
    if not (done.alerts or done.triggered or done.canaries):
        console.print("nothing to do")


@automate_app.command("policies")
def policies(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The retraining policies of the workspace's policies.toml."""
    from modelyard.automation import load_policies

    found = load_policies(open_workspace(ctx))
    if as_json:
        emit_json({name: p.model_dump(by_alias=True) for name, p in found.items()})
        return
    table = Table("deployment", "recipe", "triggers", "cooldown", "gate", "canary")
    for p in found.values():
        triggers = [
            *([f"schedule {p.schedule}"] if p.schedule else []),
            *(["drift alerts"] if p.on_drift else []),
            *(["performance alerts"] if p.on_performance else []),
            *(["new data"] if p.on_new_data else []),
        ]
        gate_text = f"{p.gate.metric or 'auto'} > {p.gate.margin:+g}, {p.gate.test}"
        canary = (
            f"{p.canary.share:.0%}, {p.canary.predictions} predictions or {p.canary.duration_s:g}s"
        )
        table.add_row(
            p.deployment,
            p.recipe,
            ", ".join(triggers) or "-",
            f"{p.cooldown_s:g}s",
            gate_text,
            canary,
        )
    console.print(table)


@automate_app.command("train")
def automate_train(
    ctx: typer.Context,
    recipe: Annotated[str, typer.Argument(help="A recipe of the workspace's recipes/*.py.")],
    as_json: JsonOpt = False,
) -> None:
    """Train and register a new version with a recipe, in this process."""
    from modelyard.automation import train

    result = train(open_workspace(ctx), recipe)
    if as_json:
        emit_json(result.to_dict())
        return
    scores = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
    console.print(f"trained {result.version.uri} (run {result.run_id}) {scores}")


@automate_app.command("retrain")
def automate_retrain(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment whose model to retrain.")],
    recipe: Annotated[
        str | None, typer.Option("--recipe", help="Default: the deployment's policy's.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Enqueue a retrain job (train, gate, canary) for a worker to run."""
    ws = open_workspace(ctx)
    payload = {"deployment": deployment, "recipe": recipe, "reason": "by command"}
    job = ws.jobs.enqueue("retrain", payload)
    if as_json:
        emit_json(job.to_dict())
        return
    console.print(f"queued retrain job {job.id} for {deployment}")


@automate_app.command("canaries")
def canaries_command(
    ctx: typer.Context,
    deployment: Annotated[str | None, typer.Option("--deployment", "-d")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Canaries, running ones first, with their latest live comparison."""
    from modelyard.automation import list_canaries

    found = list_canaries(open_workspace(ctx), deployment)
    if as_json:
        emit_json([c.to_dict() for c in found])
        return
    table = Table("deployment", "challenger", "champion", "share", "status", "started", "evidence")
    for canary in found:
        evidence = canary.evidence or {}
        lines = [f"{c['name']} {c['status']}: {c['reason']}" for c in evidence.get("checks", [])]
        table.add_row(
            canary.deployment,
            f"v{canary.challenger_version}",
            f"v{canary.champion_version}",
            f"{canary.config.share:.0%}",
            str(canary.status),
            fmt_time(canary.started_at),
            "\n".join(lines) or "-",
        )
    console.print(table)


@canary_app.command("start")
def canary_start(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment.")],
    version: Annotated[int, typer.Argument(help="The challenger's version.")],
    share: Annotated[float, typer.Option("--share", help="Its share of traffic.")] = 0.1,
    predictions: Annotated[int, typer.Option("--predictions", help="Predictions to judge.")] = 500,
    duration: Annotated[str, typer.Option("--duration", help="Or this long (10m).")] = "10m",
    as_json: JsonOpt = False,
) -> None:
    """Give a version a share of a deployment's traffic as the challenger."""
    from modelyard.automation import CanaryConfig, start_canary
    from modelyard.data._checks_table import parse_duration

    config = CanaryConfig(
        share=share,
        predictions=predictions,
        duration_s=parse_duration(duration).total_seconds(),
    )
    canary = start_canary(open_workspace(ctx), deployment, version, config)
    if as_json:
        emit_json(canary.to_dict())
        return
    console.print(_canary_line(canary))


@canary_app.command("advance")
def canary_advance(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment.")],
    as_json: JsonOpt = False,
) -> None:
    """Compare the challenger with the champion now: keep going, promote or roll back."""
    from modelyard.automation import advance_canary

    _show_canary(advance_canary(open_workspace(ctx), deployment), deployment, as_json)


@canary_app.command("end")
def canary_end(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment.")],
    promote: Annotated[
        bool, typer.Option("--promote/--rollback", help="Promote the challenger, or roll back.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", "-r")] = "ended by command",
    as_json: JsonOpt = False,
) -> None:
    """End the running canary now, promoting its challenger or rolling it back."""
    from modelyard.automation import end_canary

    ended = end_canary(open_workspace(ctx), deployment, promote=promote, reason=reason)
    _show_canary(ended, deployment, as_json)


def _show_canary(canary: Canary | None, deployment: str, as_json: bool) -> None:
    if canary is None:
        raise ValidationError(f"deployment {deployment!r} runs no canary")
    if as_json:
        emit_json(canary.to_dict())
        return
    console.print(_canary_line(canary))


def _canary_line(canary: Canary) -> str:
    reasons = "; ".join((canary.evidence or {}).get("reasons") or [])
    return (
        f"canary of v{canary.challenger_version} on {canary.deployment} "
        f"(champion v{canary.champion_version}, {canary.config.share:.0%}): {canary.status}"
        + (f": {reasons}" if reasons else "")
    )
