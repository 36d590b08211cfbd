"""The job queue on SQLite and PostgreSQL: enqueue, claim, leases, retries, states."""

from __future__ import annotations

import time

import pytest

from modelyard import Workspace
from modelyard.errors import (
    ConflictError,
    JobNotFoundError,
    JobStateError,
    UnknownJobKindError,
    ValidationError,
)
from modelyard.jobs import JobQueue, JobStatus


def short_leases(ws: Workspace) -> JobQueue:
    """The workspace's queue with 0.2 s leases (no heartbeat runs in these tests)."""
    settings = ws.settings.jobs.model_copy(update={"lease_s": 0.2, "heartbeat_s": 0.1})
    return JobQueue(ws.db, settings, ws.jobs.kinds)


def test_the_same_idempotency_key_names_the_same_job(ws: Workspace) -> None:
    first = ws.jobs.enqueue("noop", {"n": 1}, key="nightly-2024-01-01")
    again = ws.jobs.enqueue("noop", {"n": 1}, key="nightly-2024-01-01")

    assert again.id == first.id
    assert [j.id for j in ws.jobs.list()] == [first.id]


def test_a_key_reused_for_another_payload_is_a_conflict(ws: Workspace) -> None:
    first = ws.jobs.enqueue("noop", {"n": 1}, key="k")

    with pytest.raises(ConflictError, match=first.id):
        ws.jobs.enqueue("noop", {"n": 2}, key="k")
    assert ws.jobs.get(first.id).payload == {"n": 1}
    assert len(ws.jobs.list()) == 1


def test_claims_take_the_highest_priority_first_then_the_oldest(ws: Workspace) -> None:
    low = ws.jobs.enqueue("noop", {"n": 1})
    high = ws.jobs.enqueue("noop", {"n": 2}, priority=10)
    later = ws.jobs.enqueue("noop", {"n": 3}, delay_s=60)
    low_too = ws.jobs.enqueue("noop", {"n": 4})

    claimed = ws.jobs.claim("w", limit=10)

    assert [j.id for j in claimed] == [high.id, low.id, low_too.id]
    assert all(j.status == JobStatus.RUNNING and j.attempts == 1 for j in claimed)
    assert ws.jobs.get(later.id).status == JobStatus.QUEUED


def test_an_unknown_kind_names_the_known_ones_and_stores_nothing(ws: Workspace) -> None:
    with pytest.raises(UnknownJobKindError, match="kinds: automate, batch_predict, evaluate,"):
        ws.jobs.enqueue("no_such_kind", {})
    assert ws.jobs.list() == []


def test_a_bad_payload_says_what_is_wrong_and_stores_nothing(ws: Workspace) -> None:
    with pytest.raises(ValidationError, match="pipeline: Field required") as info:
        ws.jobs.enqueue("pipeline", {"pipline": "x"})
    assert "pipline: Extra inputs are not permitted" in str(info.value)
    with pytest.raises(ValidationError, match="batch_predict"):
        ws.jobs.enqueue("batch_predict", {"model": "s3://no", "input": "a", "output": "b"})
    with pytest.raises(ValidationError, match="max_attempts"):
        ws.jobs.enqueue("noop", {}, max_attempts=0)
    assert ws.jobs.list() == []


def test_unknown_job_ids_are_not_found(ws: Workspace) -> None:
    for action in (ws.jobs.get, ws.jobs.cancel, ws.jobs.retry):
        with pytest.raises(JobNotFoundError, match="job 'f00d' does not exist"):
            action("f00d")
    job = ws.jobs.enqueue("noop", {})
    assert ws.jobs.get(job.id[:8]).id == job.id


def test_a_failed_attempt_waits_the_stored_backoff_then_the_job_is_dead(ws: Workspace) -> None:
    job = ws.jobs.enqueue("noop", {}, max_attempts=3)
    pauses = []
    for attempt in (1, 2):
        (claimed,) = ws.jobs.claim("w")
        after = ws.jobs.fail(claimed, RuntimeError(f"boom {attempt}"))
        assert after is not None and after.status == JobStatus.QUEUED
        assert after.error is not None and after.error["message"] == f"RuntimeError: boom {attempt}"
        pauses.append(after.run_after - after.updated_at)
        assert ws.jobs.claim("w") == []  # not before run_after
        time.sleep(pauses[-1] / 1000 + 0.01)
    (claimed,) = ws.jobs.claim("w")
    dead = ws.jobs.fail(claimed, RuntimeError("boom 3"))

    assert pauses == [50, 100]  # backoff_s 0.05, doubled
    assert dead is not None and dead.status == JobStatus.DEAD and dead.attempts == 3
    assert ws.jobs.get(job.id).ended_at is not None


def test_bad_input_fails_at_once_without_retries(ws: Workspace) -> None:
    ws.jobs.enqueue("noop", {})
    (claimed,) = ws.jobs.claim("w")

    after = ws.jobs.fail(claimed, ValidationError("column 'x' is missing"))

    assert after is not None and after.status == JobStatus.FAILED and after.attempts == 1
    assert after.error is not None and after.error["code"] == "validation_error"


def test_an_expired_lease_goes_to_the_next_claim_and_fences_the_first_worker(
    ws: Workspace,
) -> None:
    queue = short_leases(ws)
    job = queue.enqueue("noop", {})
    (first,) = queue.claim("a")
    time.sleep(0.25)

    (second,) = queue.claim("b")

    assert second.id == job.id and second.attempts == 2 and second.lease_owner == "b"
    assert second.error is not None and second.error["code"] == "lease_expired"
    assert queue.succeed(first, {"by": "a"}) is False
    assert queue.fail(first, RuntimeError("late")) is None
    assert queue.succeed(second, {"by": "b"}) is True
    assert queue.get(job.id).result == {"by": "b"}


def test_a_job_whose_lease_ran_out_on_its_last_attempt_is_dead(ws: Workspace) -> None:
    queue = short_leases(ws)
    job = queue.enqueue("noop", {}, max_attempts=1)
    queue.claim("a")
    time.sleep(0.25)

    assert queue.claim("b") == []
    assert queue.get(job.id).status == JobStatus.DEAD


def test_heartbeats_renew_leases_and_pass_on_cancel_requests(ws: Workspace) -> None:
    job = ws.jobs.enqueue("noop", {})
    (claimed,) = ws.jobs.claim("a")
    ws.jobs.cancel(job.id)

    beat = ws.jobs.heartbeat("a", {job.id: {"stage": "x", "done": 1, "total": 2}})
    stranger = ws.jobs.heartbeat("b", {job.id: None})

    assert beat.held == {job.id} and beat.cancel == {job.id}
    assert stranger.held == set()
    stored = ws.jobs.get(job.id)
    assert stored.progress == {"stage": "x", "done": 1, "total": 2}
    assert stored.lease_expires_at is not None
    assert claimed.lease_expires_at is not None
    assert stored.lease_expires_at >= claimed.lease_expires_at


def test_cancel_stops_a_queued_job_and_refuses_a_finished_one(ws: Workspace) -> None:
    queued = ws.jobs.enqueue("noop", {"n": 1})
    done = ws.jobs.enqueue("noop", {"n": 2})
    ws.jobs.claim("w")  # takes queued (older)
    running = ws.jobs.get(queued.id)
    ws.jobs.succeed(running, {})

    cancelled = ws.jobs.cancel(done.id)

    assert cancelled.status == JobStatus.CANCELLED and cancelled.ended_at is not None
    with pytest.raises(JobStateError, match="is SUCCEEDED; only QUEUED, RUNNING jobs"):
        ws.jobs.cancel(queued.id)
    assert ws.jobs.get(queued.id).status == JobStatus.SUCCEEDED


def test_retry_queues_a_dead_job_again_with_all_its_attempts(ws: Workspace) -> None:
    job = ws.jobs.enqueue("noop", {}, max_attempts=1)
    (claimed,) = ws.jobs.claim("w")
    ws.jobs.fail(claimed, RuntimeError("boom"))

    again = ws.jobs.retry(job.id)

    assert again.status == JobStatus.QUEUED and again.attempts == 0 and again.ended_at is None
    with pytest.raises(JobStateError, match="only FAILED, DEAD, CANCELLED jobs can be retried"):
        ws.jobs.retry(job.id)
    assert [j.id for j in ws.jobs.claim("w")] == [job.id]


def test_release_gives_a_job_back_without_counting_the_attempt(ws: Workspace) -> None:
    job = ws.jobs.enqueue("noop", {})
    (claimed,) = ws.jobs.claim("w")

    assert ws.jobs.release(claimed) is True
    after = ws.jobs.get(job.id)
    assert after.status == JobStatus.QUEUED and after.attempts == 0 and after.lease_owner is None


def test_list_filters_by_status_and_kind(ws: Workspace) -> None:
    a = ws.jobs.enqueue("noop", {})
    b = ws.jobs.enqueue("record", {"file": "x"})
    ws.jobs.cancel(a.id)

    assert [j.id for j in ws.jobs.list(status="cancelled")] == [a.id]
    assert [j.id for j in ws.jobs.list(kind="record")] == [b.id]
    assert ws.jobs.counts()[JobStatus.QUEUED] == 1
    with pytest.raises(ValidationError, match="not one of queued, running"):
        ws.jobs.list(status="nope")


def test_enqueue_many_adds_every_job_in_one_go(ws: Workspace) -> None:
    ids = ws.jobs.enqueue_many("noop", [{"n": i} for i in range(5)], priority=3)

    assert len(set(ids)) == 5
    assert sorted(j.payload["n"] for j in ws.jobs.list()) == [0, 1, 2, 3, 4]
    with pytest.raises(ValidationError):
        ws.jobs.enqueue_many("pipeline", [{"pipeline": "a"}, {"bad": 1}])
    assert len(ws.jobs.list()) == 5
