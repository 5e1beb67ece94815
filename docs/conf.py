"""Sphinx configuration of skdeep's documentation site.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The Markdown pages of ``docs/`` are the user guide and the developer notes
(read with MyST); ``api.rst`` is the API reference, generated from the
docstrings (numpydoc); sphinx-gallery runs every ``examples/*.py`` and
makes the gallery (``docs/auto_examples``, generated, not tracked) with
their figures and printed output. ``SKDEEP_DOCS_QUICK=1`` runs the examples
in their quick mode (fewer epochs: same figures, rougher curves).
No intersphinx: the build reads nothing from the network.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the sources beside this file, not another install
sys.path.insert(1, str(ROOT / "docs"))  # _gallery.py

import skdeep  # noqa: E402

project = "skdeep"
author = "the skdeep developers"
copyright = "the skdeep developers, BSD-3-Clause"
release = version = skdeep.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.codeobj.json"]
templates_path = ["_templates"]

# MyST: $...$ and $$...$$ maths in the Markdown pages, anchors for their
# headings (links such as [text](optimization.md#solvers))
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# the API reference: one page per public class or function
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# the gallery: every examples/*.py, run (each example's main() leaves its
# figure open when it is not given an output directory, and the gallery
# picks it up); --quick with SKDEEP_DOCS_QUICK=1
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "ignore_pattern": r"(__init__|/_[^/]*)\.py$",
    "reset_argv": "_gallery.example_argv",  # docs/_gallery.py
    "plot_gallery": True,
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
}


def skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Leave out the members skdeep's classes inherit from scikit-learn
    (``get_params``, ``set_fit_request``, ``score``, ...): they are
    scikit-learn's, documented there, and their docstrings refer to
    scikit-learn's own pages."""
    module = getattr(getattr(obj, "__func__", obj), "__module__", None) or ""
    if module == "sklearn" or module.startswith("sklearn."):
        return True
    return skip


def setup(app):
    import _gallery

    app.connect("autodoc-skip-member", skip_scikit_learn_members)
    app.connect("build-finished", _gallery.check_figures)


html_theme = "pydata_sphinx_theme"
html_title = f"skdeep {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": []}
html_show_sourcelink = False
