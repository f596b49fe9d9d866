"""Sphinx configuration for reprlign.

Builds and reads offline: no intersphinx, no remote assets. MathJax comes from the
sphinx-mathjax-offline package, which copies a MathJax 3 bundle into ``_static/mathjax``, so
formulas render without a network; the theme (pydata-sphinx-theme, as scikit-learn's) bundles
its own fonts and icons.
"""

import os
import re
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
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
# Types in numpydoc "Parameters" sections are prose, not cross-reference targets.
numpydoc_xref_param_type = False
nitpicky = False

# _templates/autosummary: a class page lists its public methods only; pages are titled by the
# object's own name, as scikit-learn's are.
templates_path = ["_templates"]
# "fit()", not "HumanAlignTransformer.fit()", in a page's table of contents.
toc_object_entries_show_parents = "hide"
exclude_patterns = ["_build", "auto_examples/**.ipynb", "auto_examples/**.py", "**.zip"]
html_theme = "pydata_sphinx_theme"
html_static_path = []
html_title = f"reprlign {release}"
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# The front page and the changelog need no navigation sidebar.
html_sidebars = {"index": [], "changelog": []}

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
    # The execution-time pages load jQuery and DataTables from CDNs; the docs read offline.
    "write_computation_times": False,
}

suppress_warnings = ["config.cache"]


_SKLEARN_REF = re.compile(r":ref:`([^`<]+?)\s*<[^`>]+>`")
_SKLEARN_EXAMPLE = re.compile(r":ref:`sphx_glr_auto_examples_\w+?_(plot_\w+)\.py`")


def _sklearn_refs_to_words(app, what, name, obj, options, lines):
    # Class pages list the public methods reprlign's estimators inherit from scikit-learn
    # (get_params, set_output, ...). Their docstrings cross-reference scikit-learn's own user
    # guide and gallery, which this offline build does not hold: say where they are in words.
    if not getattr(obj, "__module__", "").startswith("sklearn."):
        return
    for i, line in enumerate(lines):
        line = _SKLEARN_EXAMPLE.sub(r"scikit-learn's example *\1*", line)
        lines[i] = _SKLEARN_REF.sub(r"the \1 of scikit-learn", line).replace("the the ", "the ")


def setup(app):
    app.connect("autodoc-process-docstring", _sklearn_refs_to_words)
