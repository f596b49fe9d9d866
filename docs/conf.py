"""Sphinx configuration for reprlign. Builds offline: no intersphinx, no remote assets."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import reprlign  # noqa: E402

project = "reprlign"
author = "reprlign developers"
copyright = "2026, reprlign developers"
release = reprlign.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
# Types in numpydoc "Parameters" sections are prose, not cross-reference targets.
numpydoc_xref_param_type = False
nitpicky = False

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/**.ipynb", "auto_examples/**.py", "**.zip"]
html_theme = "alabaster"
html_static_path = []
html_title = f"reprlign {release}"
# MathJax is loaded by the browser when a page is read; the build itself stays offline.

# One gallery section per family (examples/<family>/), in the order of the user guide.
GALLERY_SECTIONS = ["triplets", "measures", "alignment", "inspection", "oko", "growing"]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "subsection_order": [f"../examples/{name}" for name in GALLERY_SECTIONS],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
}

suppress_warnings = ["config.cache"]


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    # sklearn generates set_fit_request & co. on every estimator (and reads class attributes
    # named __metadata_request__<method>); their docstrings link into sklearn's own docs, which
    # this offline build cannot resolve. They are sklearn's API, documented there.
    if (name.startswith("set_") and name.endswith("_request")) or "__metadata_request__" in name:
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
