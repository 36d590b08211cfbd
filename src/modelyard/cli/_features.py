"""``modelyard apply`` and ``modelyard features list|show|plan``."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_time
from modelyard.errors import ValidationError

if TYPE_CHECKING:
    from modelyard.features import Plan

features_app = typer.Typer(help="Feature store: definitions and retrieval.", no_args_is_help=True)
app.add_typer(features_app, name="features")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
_STYLE = {"add": "green", "update": "yellow", "unchanged": "dim"}


def _print_plan(plan: Plan) -> None:
    table = Table(
        "kind",
        "name",
        "action",
        "version",
        "changed",
        title_justify="left",
        title="applied" if plan.applied else "plan (nothing applied)",
    )
    for item in plan.items:
        style = _STYLE[str(item.action)]
        table.add_row(
            item.kind,
            escape(item.name),
            f"[{style}]{item.action}[/]",
            f"v{item.version}",
            ", ".join(item.changes),
        )
    console.print(table)
    changed = len(plan.changed)
    console.print(f"{changed} change(s), {len(plan.items) - changed} unchanged")


@app.command("apply")
def apply(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register the entities, feature views and services of the workspace's features/
    folder: a changed view gets a new version, the old one stays readable. Views are
    checked against their datasets first; if any is wrong, nothing is registered."""
    plan = open_workspace(ctx).features.apply(dry_run=dry_run)
    if as_json:
        emit_json(plan.to_dict())
    else:
        _print_plan(plan)


@features_app.command("plan")
def plan(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """What ``modelyard apply`` would change."""
    result = open_workspace(ctx).features.apply(dry_run=True)
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_plan(result)


@features_app.command("list")
def list_views(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Registered feature views (latest versions), entities and services."""
    store = open_workspace(ctx).features
    views = store.registry.views()
    services = [store.registry.service(n) for n in store.registry.names("feature_service")]
    if as_json:
        emit_json(
            {
                "feature_views": [{"version": v.version, **v.view.to_dict()} for v in views],
                "entities": store.registry.names("entity"),
                "feature_services": [s.to_dict() for s in services],
            }
        )
        return
    table = Table(
        "view",
        "version",
        "entities",
        "source",
        "features",
        "ttl",
        "registered",
        title=f"{len(views)} feature view(s)",
        title_justify="left",
    )
    for v in views:
        table.add_row(
            escape(v.view.name),
            f"v{v.version}",
            ", ".join(e.name for e in v.view.entities),
            escape(v.view.source),
            ", ".join(f.name for f in v.view.features),
            str(v.view.ttl) if v.view.ttl.total_seconds() else "none",
            fmt_time(v.created_at),
        )
    console.print(table)
    for service in services:
        console.print(f"service [bold]{escape(service.name)}[/]: {', '.join(service.features)}")


@features_app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A feature view (name or name@vN).")],
    as_json: JsonOpt = False,
) -> None:
    """A feature view's definition, at its latest or a given version."""
    view_name, _, version = name.partition("@v")
    registered = open_workspace(ctx).features.registry.view(
        view_name, int(version) if version.isdigit() else None
    )
    data = {"version": registered.version, "digest": registered.digest, **registered.view.to_dict()}
    if as_json:
        emit_json(data)
        return
    view = registered.view
    console.print(f"[bold]{escape(registered.ref)}[/]  source dataset {escape(view.source)}")
    keys = ", ".join(f"{k.name} {k.dtype}" for k in view.join_keys)
    console.print(f"entities {', '.join(e.name for e in view.entities)} (keys {keys})")
    console.print(
        f"timestamp {view.timestamp_field}, created {view.created_timestamp_field or '-'}"
        f", ttl {view.ttl if view.ttl.total_seconds() else 'none'}"
    )
    table = Table("feature", "type")
    for f in view.features:
        table.add_row(escape(f.name), f.dtype)
    console.print(table)


@features_app.command("materialize")
def materialize(
    ctx: typer.Context,
    views: Annotated[list[str] | None, typer.Argument(help="Views (default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write what changed since the last materialization into the online store."""
    store = open_workspace(ctx).features
    waiting = contextlib.nullcontext() if as_json else console.status("materializing")
    with waiting:
        results = store.materialize(views or None)
    if as_json:
        emit_json([dataclasses.asdict(r) for r in results])
        return
    table = Table(
        "view",
        "entities",
        "written",
        "up to",
        title=f"online store {store.online_id}",
        title_justify="left",
    )
    for r in results:
        table.add_row(
            escape(r.view),
            f"{r.entities:,}",
            f"{r.rows_written:,}",
            str(r.max_event_timestamp or "-"),
        )
    console.print(table)


@features_app.command("get-online")
def get_online(
    ctx: typer.Context,
    features: Annotated[str, typer.Argument(help="A feature service, or refs view:feature,...")],
    entity: Annotated[
        list[str], typer.Option("--entity", "-e", help="key=v1,v2 (repeatable; ints as ints).")
    ],
    full_names: Annotated[bool, typer.Option("--full-names")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Online feature values, as the feature server answers them."""
    rows: dict[str, list[object]] = {}
    for item in entity:
        key, sep, values = item.partition("=")
        if not sep:
            raise ValidationError(f"--entity {item!r} is not key=value[,value...]")
        rows[key] = [int(v) if v.lstrip("-").isdigit() else v for v in values.split(",")]
    refs: list[str] | str = features.split(",") if ":" in features else features
    answer = open_workspace(ctx).features.get_online_features(
        refs, rows, full_feature_names=full_names
    )
    if as_json:
        emit_json(answer)
        return
    names = answer["metadata"]["feature_names"]
    table = Table(*names)
    results = answer["results"]
    for i in range(len(results[0]["values"])):
        table.add_row(
            *(
                f"{r['values'][i]}"
                + ("" if r["statuses"][i] == "PRESENT" else f" [dim]({r['statuses'][i]})[/]")
                for r in results
            )
        )
    console.print(table)


@features_app.command("skew")
def skew(
    ctx: typer.Context,
    features: Annotated[str, typer.Argument(help="A feature service, or refs view:feature,...")],
    sample: Annotated[int, typer.Option("--sample", min=1)] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Compare offline (point-in-time) and online values for a sample of entities; exits 1
    when any differ."""
    refs: list[str] | str = features.split(",") if ":" in features else features
    report = open_workspace(ctx).features.skew(refs, sample=sample)
    if as_json:
        emit_json(report.to_dict())
    else:
        console.print(
            f"compared {report.compared:,} value(s) of {report.entities:,} entities: "
            f"{len(report.mismatches)} mismatch(es)"
        )
        if report.mismatches:
            table = Table("view", "feature", "entity", "offline", "online", "status")
            for m in report.mismatches[:50]:
                table.add_row(
                    m.view, m.feature, str(m.entity), str(m.offline), str(m.online), m.status
                )
            console.print(table)
        if report.skipped:
            console.print(f"[dim]not compared (need request data): {', '.join(report.skipped)}[/]")
    if report.mismatches:
        raise typer.Exit(code=1)
