"""``modelyard models list|show|alias|history|rollback|load-check``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_time
from modelyard.errors import ValidationError

if TYPE_CHECKING:  # the registry brings pandas and the flavors: imported when a command runs
    from modelyard.automation import Decision
    from modelyard.registry import AliasEvent

models_app = typer.Typer(help="Registered models, versions and aliases.", no_args_is_help=True)
app.add_typer(models_app, name="models")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", "-r", help="Why, kept in the history.")]


@models_app.command("list")
def list_models(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every registered model with its latest version and aliases."""
    models = open_workspace(ctx).registry.list_models()
    if as_json:
        emit_json([m.to_dict() for m in models])
        return
    table = Table(
        "name",
        "latest version",
        "aliases",
        "updated",
        title=f"{len(models)} model(s)",
        title_justify="left",
    )
    for m in models:
        aliases = ", ".join(f"{a} -> v{v}" for a, v in m.aliases.items()) or "-"
        table.add_row(m.name, str(m.latest_version), aliases, fmt_time(m.updated_at))
    console.print(table)


@models_app.command("show")
def show_model(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="NAME for all versions, or a URI (fraud@champion, fraud/3).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """A model's versions, or one version in detail (signature, flavor, lineage)."""
    from modelyard.registry import parse_model_uri

    registry = open_workspace(ctx).registry
    parsed = parse_model_uri(ref)
    if parsed.version is None and parsed.alias is None and "/" not in ref and "@" not in ref:
        versions = registry.versions(parsed.name)
        if as_json:
            emit_json(
                {
                    "model": registry.get_model(parsed.name).to_dict(),
                    "versions": [v.to_dict() for v in versions],
                }
            )
            return
        table = Table(
            "version",
            "aliases",
            "flavor",
            "run",
            "created",
            "digest",
            title=f"model {parsed.name}",
            title_justify="left",
        )
        for v in versions:
            table.add_row(
                str(v.version),
                ", ".join(v.aliases) or "-",
                v.flavor,
                v.run_id or "-",
                fmt_time(v.created_at),
                v.digest[:19] + "…",
            )
        console.print(table)
        return
    mv = registry.resolve(parsed)
    if as_json:
        emit_json(mv.to_dict())
        return
    console.print(f"[bold]{mv.uri}[/]  aliases: {', '.join(mv.aliases) or '-'}")
    console.print(f"flavor {mv.flavor}  digest {mv.digest}")
    console.print(f"run {mv.run_id or '-'}  created {fmt_time(mv.created_at)}")
    if mv.signature is not None:
        console.print_json(data=mv.signature.to_dict())


@models_app.command("alias")
def alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion, challenger.")],
    version: Annotated[int | None, typer.Argument(help="Version the alias should name.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Point an alias at a version (or --delete it); every move is kept in the history."""
    registry = open_workspace(ctx).registry
    if delete == (version is not None):
        raise ValidationError("give either a VERSION to point the alias at, or --delete")
    if delete:
        event = registry.delete_alias(name, alias_name, reason=reason)
    else:
        assert version is not None
        event = registry.set_alias(name, alias_name, version, reason=reason)
    _print_event(event, as_json)


@models_app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Option("--alias", "-a")] = "champion",
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Return an alias (default champion) to the version it named before; a canary running
    on the model's deployments is rolled back too. Recorded in the audit log."""
    from modelyard.automation import rollback as roll_back

    event = roll_back(open_workspace(ctx), name, alias=alias_name, reason=reason)
    _print_event(event, as_json)


@models_app.command("history")
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[
        str | None, typer.Option("--alias", "-a", help="Only this alias.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every alias move of a model and every automated decision about it (gates, canaries,
    retraining, rollbacks) with its evidence, newest first."""
    from modelyard.automation import DecisionLog

    ws = open_workspace(ctx)
    events = ws.registry.alias_history(name, alias_name)
    decisions = DecisionLog(ws.db).list(name) if alias_name is None else []
    rows: list[tuple[int, int, dict[str, Any], tuple[str, ...]]] = [
        (e.at, 0, {**e.to_dict(), "type": "alias"}, _event_row(e)) for e in events
    ]
    rows += [(d.at, 1, {**d.to_dict(), "type": "decision"}, _decision_row(d)) for d in decisions]
    rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
    if as_json:
        emit_json([data for _, _, data, _ in rows])
        return
    table = Table(
        "when",
        "what",
        "versions",
        "outcome",
        "by",
        "reason / evidence",
        title=f"history of {name}",
        title_justify="left",
    )
    for *_, cells in rows:
        table.add_row(*cells)
    console.print(table)


def _event_row(e: AliasEvent) -> tuple[str, ...]:
    moved = f"{_v(e.previous_version)} -> {_v(e.version)}"
    return (
        fmt_time(e.at),
        f"alias {e.alias}",
        moved,
        str(e.action),
        e.actor or "-",
        e.reason or "",
    )


def _decision_row(d: Decision) -> tuple[str, ...]:
    if str(d.kind) == "rollback":
        versions = f"{_v(d.baseline_version)} -> {_v(d.version)}"
    else:
        versions = _v(d.version) + (f" vs {_v(d.baseline_version)}" if d.baseline_version else "")
    details = "\n".join([d.summary, *(f"  {line}" for line in d.evidence_lines())])
    return (fmt_time(d.at), str(d.kind), versions, d.outcome, d.actor or "-", details)


@models_app.command("load-check")
def load_check(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="models:/NAME@ALIAS or models:/NAME/N.")],
    as_json: JsonOpt = False,
) -> None:
    """Load a model (verifying its digest) and predict its stored input example."""
    registry = open_workspace(ctx).registry
    started = time.perf_counter()
    loaded = registry.load(uri)
    load_ms = (time.perf_counter() - started) * 1000
    mv = registry.get_version(loaded.name, loaded.version)
    rows = None
    if mv.input_example is not None:
        example = _example(mv.input_example)
        rows = len(loaded.predict(example))
    result = {
        "uri": loaded.uri,
        "digest": loaded.digest,
        "flavor": loaded.flavor.name,
        "verified": True,
        "load_ms": round(load_ms, 1),
        "example_rows_predicted": rows,
    }
    if as_json:
        emit_json(result)
        return
    predicted = f", predicted {rows} example row(s)" if rows is not None else ", no input example"
    console.print(
        f"[green]ok[/] {loaded.uri} ({loaded.flavor.name}) digest verified "
        f"{loaded.digest[:19]}…, loaded in {load_ms:.0f} ms{predicted}"
    )


def _example(stored: dict[str, Any]) -> object:
    import numpy as np

    if "columns" in stored:
        return [dict(zip(stored["columns"], row, strict=True)) for row in stored["data"]]
    return np.asarray(stored.get("tensor"))


def _print_event(event: AliasEvent, as_json: bool) -> None:
    if as_json:
        emit_json(event.to_dict())
        return
    console.print(
        f"{event.name}@{event.alias}: {_v(event.previous_version)} -> {_v(event.version)} "
        f"({event.action})"
    )


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"
