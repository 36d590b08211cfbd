"""The LitServe server of ``benchmarks/serving.py``, run with ``.bench/litserve``'s python.

``POST /predict`` with ``{"inputs": [[...20 floats...]]}`` answers ``{"predictions": [class]}``.
Batches of up to 64 requests, waiting at most ``BENCH_BATCH_TIMEOUT`` seconds (0.005 by
default); one inference worker on the CPU and one API server, LitServe's defaults, as is its
log level (``info``: a line per request, as MLflow, BentoML and modelyard also write by
default). ``BENCH_FAST_QUEUE=1`` turns on its ZeroMQ queue.

Usage: ``python _serving_litserve_app.py PORT``
"""

import os
import sys

import joblib
import litserve as ls
import numpy as np


class Bench(ls.LitAPI):
    """The four-method contract, plus ``batch``/``unbatch`` for the rows of a batch."""

    def setup(self, device: str) -> None:  # noqa: ARG002 (one model, on the CPU)
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    # decode_request and encode_response are left unannotated, as in LitServe's examples:
    # LitServe builds its FastAPI route from their annotations (a request annotated
    # ``dict[str, Any]`` became a query parameter, every request a 422), and this file has no
    # ``from __future__ import annotations`` for the same reason.
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return list(request["inputs"][0])

    def batch(self, inputs: list[list[float]]) -> np.ndarray:
        return np.asarray(inputs, dtype=float)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)

    def unbatch(self, output: np.ndarray) -> list[int]:
        return [int(value) for value in output]

    def encode_response(self, output):  # type: ignore[no-untyped-def]
        return {"predictions": [output]}


def main() -> None:
    api = Bench(
        max_batch_size=64, batch_timeout=float(os.environ.get("BENCH_BATCH_TIMEOUT", "0.005"))
    )
    server = ls.LitServer(
        api,
        accelerator="cpu",
        workers_per_device=1,
        fast_queue=os.environ.get("BENCH_FAST_QUEUE") == "1",
    )
    server.run(host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False)


if __name__ == "__main__":
    main()
