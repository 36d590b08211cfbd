"""``modelyard predict-batch MODEL_URI --input GLOB --output DIR``: batch scoring of
Parquet files, here or on Ray."""

from __future__ import annotations

import enum
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, stderr


class Backend(enum.StrEnum):
    """Where ``predict-batch`` scores: ``settings`` follows the ``compute`` setting."""

    SETTINGS = "settings"
    LOCAL = "local"
    RAY = "ray"


@app.command("predict-batch")
def predict_batch(
    ctx: typer.Context,
    model_uri: Annotated[str, typer.Argument(metavar="MODEL_URI", help="models:/NAME@ALIAS")],
    input: Annotated[
        str, typer.Option("--input", "-i", help="Parquet file, folder or glob ('data/*.parquet').")
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Folder for the Parquet output.")],
    backend: Annotated[
        Backend,
        typer.Option(
            "--backend",
            help="local: this process; ray: Ray Data on the `compute` setting's Ray "
            "(ray-local when it is local); settings: as `compute` says.",
        ),
    ] = Backend.SETTINGS,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, help="Rows per batch (bounds memory).")
    ] = 65_536,
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", help="Input column to copy to the output (repeat; default all)."),
    ] = None,
    features: Annotated[
        list[str] | None,
        typer.Option("--feature", help="Input column the model reads (repeat; default all)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Ray: scoring actors (default: one per CPU)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace Parquet files already in the output.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score every row of Parquet files with a registered model, in batches, writing a
    prediction id and the model's name and version with every row."""
    from modelyard.compute import open_compute
    from modelyard.compute import predict_batch as run

    workspace = open_workspace(ctx)
    setting = workspace.settings.compute
    if backend == Backend.LOCAL or (backend == Backend.SETTINGS and setting == "local"):
        compute = open_compute("local")
    else:
        compute = open_compute("ray-local" if setting == "local" else setting)
    bars = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=json_out or not stderr.is_terminal,
    )
    task = bars.add_task("scoring", total=None)
    try:
        compute.start()
        with bars:
            result = run(
                workspace,
                model_uri,
                input,
                output,
                compute=compute,
                batch_rows=batch_rows,
                features=features or None,
                keep=keep or None,
                overwrite=overwrite,
                workers=workers,
                progress=lambda done, total: bars.update(task, completed=done, total=total),
            )
    finally:
        compute.close()
    if json_out:
        emit_json(result.to_dict())
        return
    console.print(
        f"{result.rows} rows scored by {result.uri} (version {result.version}) on "
        f"{result.backend} in {result.seconds:.1f}s ({result.rows_per_s:,.0f} rows/s) "
        f"into {output}"
    )
