"""``modelyard deployments create|update|show|list|delete|apply``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_time

if TYPE_CHECKING:
    from modelyard.deployments import Deployment, DeploymentSpec, DeploymentStatus

deployments_app = typer.Typer(
    help="Deployments: traffic policies (A/B, canary, shadow) over model versions.",
    no_args_is_help=True,
)
app.add_typer(deployments_app, name="deployments")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NameArg = Annotated[str, typer.Argument(help="Deployment name.")]
TrafficOpt = Annotated[
    str | None,
    typer.Option("--traffic", "-t", help='Weights per target: "champion=0.9,challenger=0.1".'),
]
ShadowOpt = Annotated[
    list[str] | None,
    typer.Option("--shadow", help="A target that gets a mirrored copy of requests (repeatable)."),
]
StickyOpt = Annotated[
    str | None,
    typer.Option("--sticky", help="Sticky assignment key: header:x-user-id or field:user_id."),
]
BatchOpt = Annotated[int | None, typer.Option("--max-batch-size", help="Rows per batch.")]
WaitOpt = Annotated[float | None, typer.Option("--max-wait-ms", help="Longest batching wait.")]
QueueOpt = Annotated[
    int | None, typer.Option("--max-queue-rows", help="Queued rows before requests get 503.")
]
CacheOpt = Annotated[
    bool | None, typer.Option("--cache/--no-cache", help="Cache predictions of repeated rows.")
]
CacheTtlOpt = Annotated[float | None, typer.Option("--cache-ttl", help="Cache entry lifetime, s.")]
DescriptionOpt = Annotated[str | None, typer.Option("--description", "-d")]
ServiceOpt = Annotated[
    str | None,
    typer.Option(
        "--feature-service",
        help="Feature service whose features the server reads for each request's entities.",
    ),
]


@deployments_app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name.")],
    traffic: TrafficOpt = None,
    shadow: ShadowOpt = None,
    sticky: StickyOpt = None,
    max_batch_size: BatchOpt = None,
    max_wait_ms: WaitOpt = None,
    max_queue_rows: QueueOpt = None,
    cache: CacheOpt = None,
    cache_ttl: CacheTtlOpt = None,
    feature_service: ServiceOpt = None,
    description: DescriptionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a deployment; every target must resolve in the registry now."""
    from modelyard.deployments import DeploymentSpec

    fields: dict[str, Any] = {
        "name": name,
        "model": model,
        "description": description,
        "feature_service": feature_service,
    }
    if traffic is not None:
        fields["traffic"] = traffic
    fields["shadow"] = tuple(shadow or ())
    fields["sticky"] = sticky
    fields["batching"] = _given(
        max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue_rows=max_queue_rows
    )
    fields["cache"] = _given(enabled=cache, ttl_s=cache_ttl)
    deployment = open_workspace(ctx).deployments.create(DeploymentSpec(**fields))
    _print_written(deployment, "created", as_json)


@deployments_app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Registered model.")] = None,
    traffic: TrafficOpt = None,
    shadow: ShadowOpt = None,
    clear_shadow: Annotated[bool, typer.Option("--clear-shadow", help="No shadows.")] = False,
    sticky: StickyOpt = None,
    clear_sticky: Annotated[bool, typer.Option("--clear-sticky", help="Not sticky.")] = False,
    max_batch_size: BatchOpt = None,
    max_wait_ms: WaitOpt = None,
    max_queue_rows: QueueOpt = None,
    cache: CacheOpt = None,
    cache_ttl: CacheTtlOpt = None,
    feature_service: ServiceOpt = None,
    clear_feature_service: Annotated[
        bool, typer.Option("--clear-feature-service", help="Requests carry the model inputs.")
    ] = False,
    description: DescriptionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the given settings of a deployment; the others stay as they are."""
    store = open_workspace(ctx).deployments
    current = store.get(name).spec
    changes: dict[str, Any] = _given(
        model=model,
        traffic=traffic,
        sticky=sticky,
        description=description,
        feature_service=feature_service,
    )
    if clear_feature_service:
        changes["feature_service"] = None
    if shadow or clear_shadow:
        changes["shadow"] = tuple(shadow or ())
    if clear_sticky:
        changes["sticky"] = None
    batching = _given(
        max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue_rows=max_queue_rows
    )
    if batching:
        changes["batching"] = {**current.batching.model_dump(), **batching}
    caching = _given(enabled=cache, ttl_s=cache_ttl)
    if caching:
        changes["cache"] = {**current.cache.model_dump(), **caching}
    _print_written(store.update(name, **changes), "updated", as_json)


@deployments_app.command("show")
def show(ctx: typer.Context, name: NameArg, as_json: JsonOpt = False) -> None:
    """A deployment's spec and revision, and what each server reports serving for it."""
    store = open_workspace(ctx).deployments
    deployment = store.get(name)
    statuses = store.statuses(name)
    if as_json:
        emit_json({**deployment.to_dict(), "statuses": [s.to_dict() for s in statuses]})
        return
    spec = deployment.spec
    console.print(
        f"[bold]{spec.name}[/]  model {spec.model}  revision {deployment.revision}  "
        f"updated {fmt_time(deployment.updated_at)}"
    )
    for label, value in _describe(spec):
        console.print(f"  {label:<12}{escape(value)}")
    if not statuses:
        console.print(f"no server reported on {spec.name} in the last {store.stale_after_s:g} s")
        return
    console.print(_status_table(statuses))


@deployments_app.command("list")
def list_deployments(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every deployment with its model, traffic and revision."""
    deployments = open_workspace(ctx).deployments.list()
    if as_json:
        emit_json([d.to_dict() for d in deployments])
        return
    table = Table(
        "name",
        "model",
        "traffic",
        "shadow",
        "revision",
        "updated",
        title=f"{len(deployments)} deployment(s)",
        title_justify="left",
    )
    for d in deployments:
        table.add_row(
            d.name,
            d.spec.model,
            _traffic(d.spec),
            ", ".join(d.spec.shadow) or "-",
            str(d.revision),
            fmt_time(d.updated_at),
        )
    console.print(table)


@deployments_app.command("delete")
def delete(ctx: typer.Context, name: NameArg) -> None:
    """Delete a deployment; servers stop serving it at their next poll."""
    open_workspace(ctx).deployments.delete(name)
    console.print(f"deleted deployment {name}")


@deployments_app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(help="TOML file of [deployments.NAME] tables (default: deployments.toml)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or update every deployment a file declares, all or none."""
    workspace = open_workspace(ctx)
    results = workspace.deployments.apply_file(file or workspace.path / "deployments.toml")
    if as_json:
        emit_json([{"name": name, "action": action} for name, action in results])
        return
    for name, action in results:
        console.print(f"{action:<10} {name}")


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _print_written(deployment: Deployment, verb: str, as_json: bool) -> None:
    if as_json:
        emit_json(deployment.to_dict())
        return
    console.print(
        f"{verb} deployment {deployment.name} (revision {deployment.revision}): "
        f"{deployment.spec.model} {_traffic(deployment.spec)}"
    )


def _traffic(spec: DeploymentSpec) -> str:
    total = sum(r.weight for r in spec.traffic)
    return ", ".join(f"{r.target} {r.weight / total:.0%}" for r in spec.traffic)


def _describe(spec: DeploymentSpec) -> list[tuple[str, str]]:
    b, c = spec.batching, spec.cache
    cache = f"on, ttl {c.ttl_s:g} s, {c.max_entries} entries" if c.enabled else "off"
    return [
        ("traffic", _traffic(spec)),
        ("shadow", ", ".join(spec.shadow) or "-"),
        ("sticky", str(spec.sticky) if spec.sticky else "-"),
        ("batching", f"{b.max_batch_size} rows, {b.max_wait_ms:g} ms, queue {b.max_queue_rows}"),
        ("cache", cache),
        ("feature service", spec.feature_service or "-"),
        ("description", spec.description or "-"),
    ]


def _status_table(statuses: list[DeploymentStatus]) -> Table:
    table = Table(
        "server",
        "ready",
        "target",
        "version",
        "state",
        "serving",
        "error",
        "reported",
        title="servers",
        title_justify="left",
    )
    for status in statuses:
        server = (escape(status.server_id), "yes" if status.ready else "no")
        reported = fmt_time(status.updated_at)
        if not status.targets:
            table.add_row(*server, "-", "-", "-", "-", "", reported)
        for t in status.targets:
            state = f"[red]{t.state}[/]" if t.state == "failed" else str(t.state)
            version, serving = _v(t.version), _v(t.serving_version)
            error = escape(t.error or "")
            table.add_row(*server, t.target, version, state, serving, error, reported)
    return table


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"
