"""The ``batch_predict`` job kind: Parquet in, Parquet out, streamed in record batches.

The model is loaded once from its ``models:/`` URI; the input is scanned with
``pyarrow.dataset`` one batch at a time (memory stays bounded by ``batch_rows``), and every
output row carries a prediction id (``<job id>-<row number>``, the same on a retry), the
model's name and version. The output is written under a temporary name and renamed when
complete, with the job id in its Parquet metadata: a retried job whose output is already in
place returns it instead of predicting again, so a job's output is written once.

With a Ray ``compute`` setting (and local paths), the scoring runs on Ray Data, the model
loaded once per actor, and the parts Ray writes are streamed into the one output file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.jobs._context import JobContext
from modelyard.jobs._kinds import job_kind

__all__ = ["BatchPredictPayload", "batch_predict"]


class BatchPredictPayload(BaseModel):
    """Predict every row of a Parquet file (or folder of files) into one Parquet file.

    Paths are relative to the workspace; URIs (``s3://...``) go through pyarrow's file
    systems.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="A model URI: models:/NAME@ALIAS or models:/NAME/N.")
    input: str = Field(min_length=1, description="A Parquet file or folder.")
    output: str = Field(min_length=1, description="The Parquet file to write.")
    batch_rows: int = Field(default=65_536, ge=1, le=10_000_000)
    features: list[str] | None = Field(
        default=None,
        description="Input columns the model reads (default: all; a model registered with a "
        "signature takes its own columns from them).",
    )
    keep: list[str] | None = Field(
        default=None, description="Input columns copied to the output (default: all)."
    )
    prediction_column: str = Field(default="prediction", min_length=1)
    overwrite: bool = False

    @field_validator("model")
    @classmethod
    def _model_uri(cls, uri: str) -> str:
        from modelyard.registry._uri import parse_model_uri

        parse_model_uri(uri)
        return uri


@job_kind("batch_predict", payload=BatchPredictPayload)
def batch_predict(ctx: JobContext, payload: BatchPredictPayload) -> dict[str, Any]:
    """Predict a Parquet dataset into a Parquet file, batch by batch."""
    from modelyard.jobs._predict_parquet import predict_parquet

    return predict_parquet(ctx, payload)
