"""The examples run (in their quick mode) and save their figures."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WITH_FIGURES = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name != "quickstart.py")


def _load(name):
    spec = importlib.util.spec_from_file_location(name[:-3], EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", WITH_FIGURES)
def test_example_saves_its_figure(name, tmp_path):
    pytest.importorskip("matplotlib")
    path = _load(name).main(quick=True, output=tmp_path)
    assert path.exists() and path.stat().st_size > 10_000
