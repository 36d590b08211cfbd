"""Workspace settings: file, environment, defaults, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.config import find_workspace, load_settings
from modelyard.errors import ConfigError


def test_defaults_need_no_setup(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert (
        settings.resolved_metadata_url() == f"sqlite:///{tmp_path.resolve()}/.modelyard/metadata.db"
    )
    assert settings.resolved_artifacts_url() == str(tmp_path.resolve() / ".modelyard" / "artifacts")


def test_file_settings_are_overridden_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "modelyard.toml").write_text('artifacts_url = "blobs"\ntracking_flush_rows = 5\n')
    assert load_settings(tmp_path).tracking_flush_rows == 5
    assert load_settings(tmp_path).resolved_artifacts_url() == str(tmp_path.resolve() / "blobs")
    monkeypatch.setenv("MODELYARD_TRACKING_FLUSH_ROWS", "9")
    assert load_settings(tmp_path).tracking_flush_rows == 9


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        settings.auto_migrate = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("unknown_setting = 1\n", "unknown_setting"),
        ("tracking_flush_rows = 0\n", "tracking_flush_rows"),
        ("metadata_url = \n", "cannot read"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "modelyard.toml").write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(tmp_path)


def test_workspace_is_found_upward(tmp_path: Path) -> None:
    (tmp_path / "modelyard.toml").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace(deep) == tmp_path.resolve()


def test_relative_sqlite_url_is_anchored_at_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "modelyard.toml").write_text('metadata_url = "sqlite:///state/meta.db"\n')
    with Workspace.open(tmp_path) as ws:
        assert ws.db.url.database == str(tmp_path.resolve() / "state" / "meta.db")
    assert (tmp_path / "state" / "meta.db").is_file()
