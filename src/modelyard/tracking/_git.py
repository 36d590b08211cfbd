"""The git commit of the code that started a run, read from ``.git`` without a subprocess
(spawning ``git`` for every run would cost more than creating the run)."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

__all__ = ["git_commit"]


def git_commit(folder: Path | None = None) -> str | None:
    """The commit checked out at ``folder``, or else where the running script lives (or
    the current folder)."""
    if folder is not None:
        return _commit_at(folder.resolve())
    script = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else Path.cwd()
    return _commit_at(script) or _commit_at(Path.cwd().resolve())


@functools.lru_cache(maxsize=16)
def _commit_at(folder: Path) -> str | None:
    for candidate in (folder, *folder.parents):
        git = candidate / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            target = git.read_text().partition("gitdir:")[2].strip()
            git = (candidate / target).resolve()
        if git.is_dir():
            return _resolve_head(git)
    return None


def _resolve_head(git: Path) -> str | None:
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head[4:].strip()
    common = git
    if (git / "commondir").is_file():
        common = (git / (git / "commondir").read_text().strip()).resolve()
    for base in (git, common):
        loose = base / ref
        if loose.is_file():
            return loose.read_text().strip() or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
    return None  # a branch with no commits yet
