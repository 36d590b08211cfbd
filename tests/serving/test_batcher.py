"""The adaptive batcher: merging, row limits, waiting for company, back-pressure, failures."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from modelyard.errors import FlavorError, ModelOutputError, OverloadedError
from modelyard.serving._batcher import Batcher, merge_batches
from modelyard.serving._executor import PredictExecutor
from modelyard.serving._observer import ServingObserver
from modelyard.serving._types import InputBatch


@dataclass(frozen=True)
class Limits:
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    max_queue_rows: int = 4096


class Model:
    """Doubles column ``x``; records the rows of every call; can be held or made to fail."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def __call__(self, batch: InputBatch) -> np.ndarray:
        self.started.set()
        self.gate.wait(5)
        assert batch.columns is not None
        x = batch.columns["x"]
        self.calls.append(batch.n_rows)
        if (x < 0).any():
            raise ArithmeticError("negative input")
        return x * 2.0


def rows(*values: float) -> InputBatch:
    return InputBatch(n_rows=len(values), columns={"x": np.array(values, dtype=np.float64)})


def run(
    test: Callable[[Batcher, Model], Awaitable[None]],
    limits: Limits | None = None,
    observer: ServingObserver | None = None,
) -> Model:
    """Run ``test`` against a fresh batcher on a started executor; returns the model."""
    model = Model()
    executor = PredictExecutor(2)
    executor.start()

    async def main() -> None:
        batcher = Batcher(
            model, executor, limits or Limits(), deployment="d", version=1, observer=observer
        )
        try:
            await test(batcher, model)
        finally:
            model.gate.set()
            await batcher.close()

    try:
        asyncio.run(main())
    finally:
        executor.shutdown()
    return model


def test_concurrent_requests_are_merged_into_one_predict() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        results = await asyncio.gather(*(batcher.submit(rows(i, i + 0.5)) for i in range(10)))
        for i, out in enumerate(results):
            np.testing.assert_array_equal(out, [2 * i, 2 * i + 1])

    assert run(test).calls == [20]


def test_batches_are_bounded_in_rows_not_requests() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        results = await asyncio.gather(*(batcher.submit(rows(*[i] * 30)) for i in range(3)))
        assert [out.tolist() for out in results] == [[2.0 * i] * 30 for i in range(3)]

    assert run(test).calls == [60, 30]


def test_a_request_larger_than_the_batch_runs_alone() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        big, small = await asyncio.gather(
            batcher.submit(rows(*range(100))), batcher.submit(rows(1))
        )
        assert big.shape == (100,) and small.tolist() == [2.0]

    assert run(test).calls == [100, 1]


def test_arrivals_during_a_predict_go_together_when_it_returns() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        model.gate.clear()
        first = asyncio.ensure_future(batcher.submit(rows(1)))
        await asyncio.to_thread(model.started.wait, 5)
        rest = [asyncio.ensure_future(batcher.submit(rows(i))) for i in range(2, 7)]
        await asyncio.sleep(0.02)
        assert batcher.stats().queued_requests == 5 and batcher.stats().busy
        model.gate.set()
        await asyncio.gather(first, *rest)

    assert run(test, Limits(max_wait_ms=0)).calls == [1, 5]


def test_with_recent_company_an_idle_model_waits_for_more() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        await asyncio.gather(batcher.submit(rows(1)), batcher.submit(rows(2)))  # concurrency seen
        early = asyncio.ensure_future(batcher.submit(rows(3)))
        await asyncio.sleep(0.02)
        late = asyncio.ensure_future(batcher.submit(rows(4)))
        await asyncio.gather(early, late)

    assert run(test, Limits(max_wait_ms=300)).calls == [2, 2]


def test_the_wait_for_company_is_bounded_by_max_wait() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        await asyncio.gather(batcher.submit(rows(1)), batcher.submit(rows(2)))
        started = time.perf_counter()
        await batcher.submit(rows(3))
        assert 0.04 <= time.perf_counter() - started < 0.5

    assert run(test, Limits(max_wait_ms=50)).calls == [2, 1]


def test_a_lone_sequential_caller_does_not_pay_the_wait() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        started = time.perf_counter()
        for i in range(20):
            assert (await batcher.submit(rows(i))).tolist() == [2.0 * i]
        assert time.perf_counter() - started < 20 * 0.2  # max_wait_ms below is 200

    assert run(test, Limits(max_wait_ms=200)).calls == [1] * 20


def test_a_full_queue_refuses_at_once_with_retry_after() -> None:
    seen: list[str] = []

    class Observer(ServingObserver):
        def overloaded(self, deployment: str, version: int) -> None:
            seen.append(f"{deployment}/{version}")

    async def test(batcher: Batcher, model: Model) -> None:
        model.gate.clear()
        running = asyncio.ensure_future(batcher.submit(rows(*range(8))))
        await asyncio.to_thread(model.started.wait, 5)
        queued = [asyncio.ensure_future(batcher.submit(rows(*range(4)))) for _ in range(4)]
        await asyncio.sleep(0)
        with pytest.raises(OverloadedError) as info:
            await batcher.submit(rows(1))
        assert info.value.retry_after > 0 and "16 rows queued" in info.value.message
        model.gate.set()
        await asyncio.gather(running, *queued)
        assert (await batcher.submit(rows(1))).tolist() == [2.0]  # drained: accepted again

    limits = Limits(max_batch_size=8, max_queue_rows=16)
    run(test, limits, Observer())
    assert seen == ["d/1"]


def test_a_failing_batch_is_retried_one_by_one_so_only_the_bad_request_fails() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        model.gate.clear()
        blocker = asyncio.ensure_future(batcher.submit(rows(0)))
        await asyncio.to_thread(model.started.wait, 5)
        merged = [asyncio.ensure_future(batcher.submit(rows(v, v))) for v in (1, -1, 3)]
        await asyncio.sleep(0)
        model.gate.set()
        await blocker
        assert (await merged[0]).tolist() == [2.0, 2.0]
        with pytest.raises(FlavorError, match="ArithmeticError: negative input"):
            await merged[1]
        assert (await merged[2]).tolist() == [6.0, 6.0]
        assert (await batcher.submit(rows(5))).tolist() == [10.0]

    # the merged batch of 6 rows fails; its 3 requests run again, each on its own
    assert run(test, Limits(max_wait_ms=0)).calls == [1, 6, 2, 2, 2, 1]


def test_a_lone_failing_request_is_not_retried() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        with pytest.raises(FlavorError, match="negative input"):
            await batcher.submit(rows(-1, 1))

    assert run(test).calls == [2]


def test_the_observer_sees_each_retried_request_as_its_own_batch() -> None:
    batches: list[tuple[int, int]] = []

    class Observer(ServingObserver):
        def batch(
            self, deployment: str, version: int, requests: int, rows: int, seconds: float
        ) -> None:
            batches.append((deployment, version, requests, rows, seconds > 0))

    async def test(batcher: Batcher, model: Model) -> None:
        results = await asyncio.gather(
            *(batcher.submit(rows(v)) for v in (1, -1, 2, 3)), return_exceptions=True
        )
        assert [type(r).__name__ for r in results] == ["ndarray", "FlavorError", *["ndarray"] * 2]

    run(test, observer=Observer())
    assert batches == [("d", 1, 1, 1, True)] * 3  # the failed merged batch is not counted


@pytest.mark.parametrize(
    ("predict", "shape"),
    [(lambda b: np.zeros(b.n_rows - 1), [1]), (lambda b: np.asarray(float(b.n_rows)), [])],
    ids=["one-row-short", "scalar"],
)
def test_outputs_without_a_row_per_input_row_are_a_model_output_error(
    predict: Callable[[InputBatch], np.ndarray], shape: list[int]
) -> None:
    model_rows = InputBatch(n_rows=2, columns={"x": np.zeros(2)})

    async def main() -> None:
        executor = PredictExecutor(1)
        executor.start()
        batcher = Batcher(predict, executor, Limits(), deployment="d", version=3)
        with pytest.raises(ModelOutputError, match=r"shape \[.*\] for 2 input rows") as info:
            await batcher.submit(model_rows)
        assert not isinstance(info.value, FlavorError)  # a bug in the model: not a 422
        assert info.value.details == {"deployment": "d", "version": 3, "rows": 2, "shape": shape}
        await batcher.close()
        executor.shutdown()

    asyncio.run(main())


def test_a_caller_that_gives_up_does_not_disturb_the_others() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        model.gate.clear()
        blocker = asyncio.ensure_future(batcher.submit(rows(0)))
        await asyncio.to_thread(model.started.wait, 5)
        quitter = asyncio.ensure_future(batcher.submit(rows(1)))
        stayer = asyncio.ensure_future(batcher.submit(rows(2)))
        await asyncio.sleep(0)
        quitter.cancel()
        model.gate.set()
        assert (await stayer).tolist() == [4.0]
        await blocker

    assert run(test, Limits(max_wait_ms=0)).calls == [1, 1]


def test_close_finishes_queued_requests_then_refuses() -> None:
    async def test(batcher: Batcher, model: Model) -> None:
        model.gate.clear()
        pending = [asyncio.ensure_future(batcher.submit(rows(i))) for i in range(3)]
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(batcher.close())
        model.gate.set()
        await closing
        assert [(await p).tolist() for p in pending] == [[0.0], [2.0], [4.0]]
        with pytest.raises(OverloadedError, match="shutting down"):
            await batcher.submit(rows(1))

    run(test)


def test_the_observer_sees_every_batch() -> None:
    batches: list[tuple[Any, ...]] = []

    class Observer(ServingObserver):
        def batch(
            self, deployment: str, version: int, requests: int, rows: int, seconds: float
        ) -> None:
            batches.append((deployment, version, requests, rows, seconds > 0))

    async def test(batcher: Batcher, model: Model) -> None:
        await asyncio.gather(*(batcher.submit(rows(i, i)) for i in range(3)))

    run(test, observer=Observer())
    assert batches == [("d", 1, 3, 6, True)]


def test_merge_keeps_order_for_columns_and_tensors() -> None:
    merged = merge_batches([rows(1, 2), rows(3)])
    assert merged.n_rows == 3 and merged.columns is not None
    assert merged.columns["x"].tolist() == [1, 2, 3]
    tensors = [
        InputBatch(n_rows=1, tensor=np.ones((1, 2, 2))),
        InputBatch(2, tensor=np.zeros((2, 2, 2))),
    ]
    merged = merge_batches(tensors)
    assert merged.tensor is not None and merged.tensor.shape == (3, 2, 2)
    assert merged.tensor[0].sum() == 4 and merged.tensor[1:].sum() == 0


def test_requests_of_another_layout_wait_for_their_own_batch() -> None:
    """Without a signature requests may differ in columns; they are never merged."""
    calls: list[tuple[str, ...]] = []

    def predict(batch: InputBatch) -> np.ndarray:
        calls.append(tuple(batch.columns or ()))
        return np.zeros(batch.n_rows)

    async def main() -> None:
        executor = PredictExecutor(1)
        executor.start()
        batcher = Batcher(predict, executor, Limits(), deployment="d", version=1)
        a = InputBatch(n_rows=1, columns={"a": np.zeros(1)})
        b = InputBatch(n_rows=1, columns={"b": np.zeros(1)})
        await asyncio.gather(batcher.submit(a), batcher.submit(a), batcher.submit(b))
        await batcher.close()
        executor.shutdown()

    asyncio.run(main())
    assert calls == [("a",), ("b",)]
