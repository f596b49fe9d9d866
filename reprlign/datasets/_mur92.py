"""The 92 object images with human similarity judgments and brain RDMs."""

from __future__ import annotations

import numpy as np
import scipy.io
from scipy.spatial.distance import squareform
from sklearn.utils import Bunch

from ._base import data_path

_DESCR = """\
92 object images: human similarity judgments and brain RDMs
===========================================================

92 images of real objects (175 x 175 RGB: human and animal faces and bodies,
natural and artificial objects). 16 people arranged them by similarity
(multi-arrangement); each person gives a 92 x 92 dissimilarity matrix (RDM).
The images come with 12 category vectors and the human IT (fMRI) and monkey IT
(cell recording) RDMs of Kriegeskorte et al. (2008).

Sources: Mur, Meys, Bodurka, Goebel, Bandettini & Kriegeskorte (2013), "Human
object-similarity judgments reflect and transcend the primate-IT object
representation", Frontiers in Psychology; Kriegeskorte, Mur, Ruff, Kiani,
Bodurka, Esteky, Tanaka & Bandettini (2008), "Matching categorical object
representations in inferior temporal cortex of man and monkey", Neuron. Both as
distributed in the rsatoolbox repository (MIT licence).
"""


def _load_mat(name):
    return scipy.io.loadmat(data_path(name), squeeze_me=True, struct_as_record=False)


def load_mur92():
    """Load the 92-image similarity judgments, images, categories and brain RDMs.

    Returns
    -------
    data : sklearn.utils.Bunch
        * ``images``: (92, 175, 175, 3) uint8.
        * ``behavior_rdms``: (16, 92, 92) float64, one dissimilarity matrix per
          person (symmetric, zero diagonal).
        * ``category_vectors``: (92, 12) uint8 and ``category_labels`` (12 names,
          such as ``"animate"``, ``"face"``).
        * ``brain_rdms``: (2, 92, 92) float64, the monkey IT and human IT RDMs,
          named in ``brain_rdm_names`` (``"mIT"``, ``"hIT"``).
        * ``DESCR``: description, citations and licence.
    """
    behav = _load_mat("mur92_behavior_rdms.mat")["rdms_behav_92"]
    behavior_rdms = np.stack([np.asarray(r.RDM, dtype=np.float64) for r in behav])
    stim = _load_mat("kriegeskorte92_stimuli.mat")
    images = np.stack([np.asarray(s.image, dtype=np.uint8) for s in stim["stimuli_92objs"]])
    brain = stim["RDMs_mIT_hIT_fig1"]
    brain_rdms = np.stack([squareform(np.asarray(b.RDM, dtype=np.float64)) for b in brain])
    names = ["mIT" if str(b.name).startswith("mIT") else "hIT" for b in brain]
    return Bunch(
        images=images,
        behavior_rdms=behavior_rdms,
        category_vectors=np.asarray(stim["categoryVectors"], dtype=np.uint8),
        category_labels=[str(c) for c in stim["categoryLabels"]],
        brain_rdms=brain_rdms,
        brain_rdm_names=names,
        DESCR=_DESCR,
    )
