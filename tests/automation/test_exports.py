"""The automation package's public names resolve, and importing its job kinds (as every
job queue does) leaves pandas, DuckDB and scikit-learn unimported."""

from __future__ import annotations

import subprocess
import sys

import modelyard.automation as automation


def test_every_exported_name_resolves() -> None:
    assert automation.__all__ == sorted(automation.__all__)
    for name in automation.__all__:
        assert getattr(automation, name) is not None, name


def test_the_job_kinds_import_light() -> None:
    code = (
        "import sys, modelyard.automation._kinds\n"
        "print(sorted({'pandas', 'duckdb', 'sklearn'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
