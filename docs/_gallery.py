"""The gallery's hooks (sphinx-gallery names them by module and function,
which keeps the configuration cacheable)."""

import os


def example_argv(gallery_conf, script_vars):
    """The command-line arguments each example runs with in the gallery:
    ``--quick`` when ``SKDEEP_DOCS_QUICK=1``."""
    return ["--quick"] if os.environ.get("SKDEEP_DOCS_QUICK", "0") == "1" else []


def check_figures(app, exception):
    """After the build: each example that draws (imports matplotlib) has its
    figure on its gallery page, and the page's HTML shows it. A missing
    figure fails the build: an example that closed its figure, saved it
    elsewhere, or stopped drawing."""
    if exception is not None or app.builder.format != "html":
        return
    from pathlib import Path

    from sphinx.errors import ExtensionError

    conf = app.config.sphinx_gallery_conf
    examples = Path(conf["examples_dirs"])
    gallery = Path(app.srcdir) / conf["gallery_dirs"]
    html = Path(app.outdir) / conf["gallery_dirs"]
    missing = []
    for script in sorted(examples.glob("*.py")):
        if script.name.startswith("_") or "matplotlib" not in script.read_text():
            continue
        figure = f"sphx_glr_{script.stem}_001.png"
        page = html / f"{script.stem}.html"
        if not (gallery / "images" / figure).exists() or not page.exists() or figure not in page.read_text():
            missing.append(script.name)
    if missing:
        raise ExtensionError(f"gallery pages without their example's figure: {missing}")
