"""The documentation site's sources, checked without Sphinx: every public
name is in the API reference, every page is in a table of contents, and
every example has the title the gallery needs. (The build itself, with
warnings as errors and the gallery's figures checked, is in ``.ci/run``.)"""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api.rst"

#: the public modules: each one's ``__all__`` is its public interface
PUBLIC_MODULES = [
    "skdeep", "skdeep.optim", "skdeep.schedules", "skdeep.tangents", "skdeep.plot",
    "skdeep.onnx", "skdeep.persistence", "skdeep.precompile",
]


def documented_names(text=None):
    """The fully qualified names the API reference documents: autosummary
    entries under their ``currentmodule``, ``automodule``s and ``data``."""
    names, module = set(), None
    in_autosummary = False
    for line in (API.read_text() if text is None else text).splitlines():
        directive = re.match(r"\.\. ([\w:-]+)::\s*(\S*)", line)
        if directive:
            kind, argument = directive.groups()
            in_autosummary = kind == "autosummary"
            if kind == "currentmodule":
                module = argument
            elif kind in ("automodule", "data", "autodata", "autoclass", "autofunction"):
                names.add(argument)
        elif in_autosummary and re.match(r"   \w+$", line):
            names.add(f"{module}.{line.strip()}")
        elif line and not line.startswith(" "):
            in_autosummary = False
    return names


def public_names():
    for module_name in PUBLIC_MODULES:
        if module_name == "skdeep.onnx":
            pytest.importorskip("skl2onnx")
        module = importlib.import_module(module_name)
        for name in module.__all__:
            yield f"{module_name}.{name}"


def test_every_public_name_is_in_the_api_reference():
    documented = documented_names()
    missing = sorted(set(public_names()) - documented)
    assert not missing, (
        f"public names missing from docs/api.rst: {missing}; add each to the "
        "autosummary list of its module's section (a new module: a new section)"
    )
    # and nothing documented that is not public
    public = set(public_names()) | set(PUBLIC_MODULES)
    assert documented <= public, sorted(documented - public)


def test_the_reading_of_the_api_reference_sees_a_missing_name():
    """The check above can fail: a reference without one name misses it."""
    text = API.read_text().replace("   TrainingHistoryDisplay\n", "")
    assert "skdeep.plot.TrainingHistoryDisplay" not in documented_names(text)
    assert "skdeep.plot.TrainingHistoryDisplay" in set(public_names())


def toctree_entries():
    entries = set()
    for block in re.findall(r"```\{toctree\}\n(.*?)```", (DOCS / "index.md").read_text(), re.S):
        entries |= {line.strip() for line in block.splitlines() if line.strip() and not line.startswith(":")}
    return entries


def test_every_page_is_in_the_sites_table_of_contents():
    pages = {p.stem for p in DOCS.glob("*.md") if p.stem != "index"}
    pages |= {p.stem for p in DOCS.glob("*.rst")} - {"sg_execution_times"}  # the gallery's, orphan
    entries = toctree_entries()
    assert "auto_examples/index" in entries
    assert pages - entries == set(), "add the page to a toctree in docs/index.md"
    assert {"engine", "performance"} <= entries  # the developer notes


def test_developer_notes_are_separate_from_the_user_guide():
    text = (DOCS / "index.md").read_text()
    guide = re.search(r":caption: User guide\n(.*?)```", text, re.S).group(1).split()
    notes = re.search(r":caption: Developer notes\n(.*?)```", text, re.S).group(1).split()
    assert {"engine", "performance"} == set(notes)
    assert not {"engine", "performance"} & set(guide)


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_has_a_gallery_title(path):
    """sphinx-gallery takes the page's title from the docstring's first
    line, underlined with '=' as reStructuredText wants it."""
    docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert docstring, f"{path.name} has no docstring"
    title, underline, *_ = docstring.splitlines() + ["", ""]
    assert title.strip() and underline == "=" * len(title), (
        f"{path.name}: the docstring must start with a title line underlined "
        "with '=' of the same length"
    )


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_pages_show_the_gallerys_figures_not_tracked_images(page):
    """The examples' figures come from the gallery's build (the examples do
    not write into docs/), and every one a page shows has its example."""
    text = page.read_text()
    assert "](images/" not in text
    for name in re.findall(r"auto_examples/images/sphx_glr_(\w+)_\d{3}\.png", text):
        assert (ROOT / "examples" / f"{name}.py").exists(), name
