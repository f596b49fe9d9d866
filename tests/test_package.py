"""The package surface: version, public names, data files, ``python -m reprlign``."""

import subprocess
import sys
from importlib import resources

import reprlign
import reprlign.datasets
import reprlign.model_selection
import reprlign.triplets


def test_version_and_all():
    assert reprlign.__version__.count(".") >= 2
    for module in (reprlign, reprlign.triplets, reprlign.model_selection, reprlign.datasets):
        assert len(module.__all__) == len(set(module.__all__))
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.__all__ lists missing {name}"


def test_bundled_data_files_ship_with_attribution():
    data = resources.files("reprlign.datasets") / "data"
    names = {p.name for p in data.iterdir()}
    assert {
        "ATTRIBUTION.md",
        "things_noise_ceiling_triplets.tsv",
        "things_concepts.tsv",
        "things_categories.tsv",
        "things_features.npz",
        "mur92_behavior_rdms.mat",
        "kriegeskorte92_stimuli.mat",
    } <= names
    text = (data / "ATTRIBUTION.md").read_text()
    assert "CC-BY-4.0" in text and "Kriegeskorte" in text and "all-MiniLM-L6-v2" in text


def test_python_m_reprlign_prints_help():
    out = subprocess.run([sys.executable, "-m", "reprlign"], capture_output=True, text=True,
                         check=True)
    assert "usage: python -m reprlign" in out.stdout and "demo" in out.stdout
    out = subprocess.run([sys.executable, "-m", "reprlign", "--version"], capture_output=True,
                         text=True, check=True)
    assert reprlign.__version__ in out.stdout


def test_import_is_light_and_names_resolve_lazily():
    code = (
        "import sys, reprlign; assert 'torch' not in sys.modules, 'torch imported eagerly'; "
        "from reprlign import HumanAlignTransformer, OKOClassifier; "
        "assert set(reprlign.__all__) <= set(dir(reprlign)); "
        "assert reprlign.triplets.validate_triplets is not None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
