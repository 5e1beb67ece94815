"""The examples run (in their quick mode), save their figures and print
their summaries."""

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
def test_example_saves_its_figure(name, tmp_path, capsys):
    plt = pytest.importorskip("matplotlib.pyplot")
    path = _load(name).main(quick=True, output=tmp_path)
    assert path == tmp_path / f"{name[:-3]}.png"
    # the figure stays open: the documentation's gallery takes it from there
    # (the examples write no file unless given an output directory)
    assert plt.get_fignums()
    plt.close("all")
    # a picture with data drawn on it: a figure of several panels' size,
    # with coloured pixels (lines, markers, bars; axes and text are grey)
    image = plt.imread(path)
    height, width, channels = image.shape
    assert height >= 300 and width >= 500 and channels in (3, 4)
    rgb = image[..., :3]
    coloured = (rgb.max(-1) - rgb.min(-1)) > 0.2
    assert coloured.mean() > 0.005  # 1.7% to 22% in the examples' figures
    # the summary the example prints, ending with where the figure went
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) >= 3 and lines[-1] == f"saved {path}"
    assert not any("nan" in line.split() for line in lines)
