"""Functions run in child processes by concurrency tests (importable by name, which spawned
processes need: test modules themselves are imported by path)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from modelyard.store import Database, ensure_schema
from modelyard.store._schema import experiments


def write_experiments(url: str, worker: int, count: int) -> None:
    """Read-then-write transactions: the pattern that fails with "database is locked" under
    SQLite's deferred transactions."""
    db = Database(url, busy_timeout_s=60)
    for i in range(count):
        with db.write() as conn:
            conn.execute(select(experiments.c.id).limit(1)).all()
            conn.execute(
                experiments.insert().values(id=f"{worker}-{i}", name=f"{worker}-{i}", created_at=i)
            )
    db.dispose()


def migrate(url: str) -> None:
    ensure_schema(Database(url), auto_migrate=True)


def register_many(workspace_dir: str, url: str, count: int) -> None:
    from sklearn.dummy import DummyClassifier

    from modelyard import Workspace
    from modelyard.config import load_settings

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    with Workspace(load_settings(Path(workspace_dir), metadata_url=url)) as ws:
        for _ in range(count):
            ws.registry.register("race", model)


def run_pipeline(workspace_dir: str, url: str, name: str) -> None:
    """Run a workspace pipeline in this process (which the pipeline may kill)."""
    from modelyard import Workspace
    from modelyard.config import load_settings

    settings = load_settings(Path(workspace_dir), metadata_url=url, data={"batch_rows": 1000})
    with Workspace(settings) as ws:
        ws.start()
        ws.pipelines.run(name)
