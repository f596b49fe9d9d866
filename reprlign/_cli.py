"""The command line: ``python -m reprlign {demo, score, align}``.

Each subcommand is a function ``_cmd_<name>(args) -> int`` registered in
:func:`build_parser`; the heavy imports happen inside the command, so
``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _cmd_demo(args) -> int:
    from ._demo import run_demo

    try:
        run_demo(features=args.features, reg=args.reg, local_weight=args.local_weight,
                 n_splits=args.n_splits, output=None if args.output == "none" else args.output,
                 random_state=args.random_state)
    except ImportError as exc:  # matplotlib missing: said before any work is done
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


# -- score / align: features kept in files -------------------------------------------------
class _CLIError(Exception):
    """A user error: printed as ``error: ...`` with exit status 2."""


def _load_table(path, what):
    """A 2-D float array from .npy, .npz (one array), .csv, .tsv or .txt, with errors naming it."""
    from pathlib import Path

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise _CLIError(f"{what} file not found: {path}")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if len(z.files) != 1:
                    raise _CLIError(f"{path}: .npz with {len(z.files)} arrays {z.files}; "
                                    f"save exactly one")
                arr = z[z.files[0]]
        else:
            arr = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)
    except _CLIError:
        raise
    except Exception as exc:  # unreadable file: say which one
        raise _CLIError(f"{path}: could not read an array: {exc}") from exc
    if arr.ndim != 2:
        raise _CLIError(f"{path}: expected a 2-D (n, d) array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise _CLIError(f"{path}: expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    bad = int((~np.isfinite(arr)).any(axis=1).sum())
    if bad:
        raise _CLIError(f"{path}: {bad} row(s) contain NaN or infinite values")
    return arr


def _score(args) -> int:
    from .measures import RSAScorer

    A = _load_table(args.a, "A")
    B = _load_table(args.b, "B")
    if A.shape[0] != B.shape[0]:
        raise _CLIError(f"{args.a} has shape {A.shape} and {args.b} has shape {B.shape}: "
                        f"both need one row per stimulus, in the same order")
    scorer = RSAScorer(metric=args.metric, debiased=args.debiased, kernel=args.kernel,
                       rdm_metric=args.rdm_metric, compare=args.compare, k=args.k,
                       device=args.device, n_bootstrap=args.n_bootstrap,
                       confidence=args.confidence, random_state=args.seed)
    print(f"{args.a} {A.shape} vs {args.b} {B.shape}: {scorer!r}")
    if not args.ci:
        print(f"{args.metric} = {scorer.score(A, B):.6f}")
        return 0
    res = scorer.score_ci(A, B)
    print(f"{args.metric} = {float(res.value):.6f}   {args.confidence:.0%} CI "
          f"[{float(res.low):.6f}, {float(res.high):.6f}] ({res.ci_method} bootstrap over "
          f"stimuli, {args.n_bootstrap} resamples)")
    return 0


def _align(args) -> int:
    import numpy as np

    from .alignment import HumanAlignTransformer
    from .triplets import odd_one_out_accuracy, read_triplets

    F = _load_table(args.features, "features")
    try:
        T = read_triplets(args.triplets, format=args.format)
    except (FileNotFoundError, ValueError) as exc:
        raise _CLIError(f"{args.triplets}: {exc}") from exc
    if T.max() >= F.shape[0]:
        raise _CLIError(f"{args.triplets} (shape {T.shape}) refers to object {int(T.max())}, "
                        f"but {args.features} has shape {F.shape}: only {F.shape[0]} objects")
    est = HumanAlignTransformer(F, method=args.method, reg=args.reg,
                                local_weight=args.local_weight, max_epochs=args.max_epochs,
                                lr=args.lr, batch_size=args.batch_size, device=args.device,
                                random_state=args.seed, verbose=0 if args.quiet else 1)
    print(f"fitting {est!r}\non {len(T):,} triplets over {F.shape[0]:,} objects "
          f"({F.shape[1]} features)", flush=True)
    est.fit(T)
    before = odd_one_out_accuracy(F, T)
    after = est.score(T)
    np.savez(args.out, W=est.W_, b=est.b_, mean=est.mean_, scale=est.scale_,
             temperature=est.temperature_, method=args.method, reg=args.reg,
             local_weight=args.local_weight, n_epochs=est.n_epochs_)
    print(f"training odd-one-out accuracy: {before:.3f} before, {after:.3f} after "
          f"({est.n_epochs_} epochs)")
    print(f"wrote {args.out}: apply as ((F - mean) / scale) @ W + b")
    return 0


def _reporting(fn, args) -> int:
    try:
        return fn(args)
    except _CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _cmd_score(args) -> int:
    return _reporting(_score, args)


def _cmd_align(args) -> int:
    return _reporting(_align, args)


def _add_score_parser(sub):
    p = sub.add_parser(
        "score", help="alignment of two feature files (CKA, RSA, Procrustes, mutual k-NN)",
        description="Compare two representations of the same stimuli, one row per stimulus, "
        "saved as .npy, .npz (one array), .csv, .tsv or .txt.")
    p.add_argument("a", help="first representation, (n, d1)")
    p.add_argument("b", help="second representation, (n, d2)")
    p.add_argument("--metric", default="cka", choices=["cka", "rsa", "procrustes", "mutual_knn"],
                   help="the measure (default: cka)")
    p.add_argument("--ci", action="store_true", help="add a bootstrap confidence interval")
    p.add_argument("--debiased", action="store_true", help="unbiased HSIC for CKA")
    p.add_argument("--kernel", default="linear", choices=["linear", "rbf"], help="CKA kernel")
    p.add_argument("--rdm-metric", default="correlation",
                   choices=["correlation", "cosine", "euclidean", "sqeuclidean"],
                   help="RDM dissimilarity for RSA (default: correlation)")
    p.add_argument("--compare", default="spearman",
                   choices=["spearman", "pearson", "tau_a", "cosine"],
                   help="RDM comparator for RSA (default: spearman)")
    p.add_argument("--k", type=int, default=10, help="neighbours for mutual_knn (default: 10)")
    p.add_argument("--n-bootstrap", type=int, default=1000, help="resamples for --ci")
    p.add_argument("--confidence", type=float, default=0.95, help="coverage for --ci")
    p.add_argument("--device", default=None, help="cpu or cuda (default: numpy)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.set_defaults(func=_cmd_score)


def _add_align_parser(sub):
    p = sub.add_parser(
        "align", help="fit a gLocal transform of a feature file to odd-one-out triplets",
        description="Fit HumanAlignTransformer on triplets into a feature table and save the "
        "transform (W, b, mean, scale, temperature) as .npz.")
    p.add_argument("--features", required=True, help="(n_objects, d) features (.npy, ...)")
    p.add_argument("--triplets", required=True, help="triplet file (see --format)")
    p.add_argument("--format", default="things", choices=["things", "canonical"],
                   help="things: 1-based 'o1 o2 o3 choice' rows; canonical: 0-based, odd last")
    p.add_argument("--out", default="transform.npz", help="output .npz (default: transform.npz)")
    p.add_argument("--method", default="glocal", choices=["glocal", "global", "naive"])
    p.add_argument("--reg", type=float, default=0.1, help="pull toward the original (lambda)")
    p.add_argument("--local-weight", type=float, default=0.1, help="gLocal alpha")
    p.add_argument("--max-epochs", type=_auto(int), default="auto",
                   help="passes over the triplets (default: auto, about 100 steps)")
    p.add_argument("--lr", type=_auto(float), default="auto",
                   help="learning rate (default: auto, from the batch size)")
    p.add_argument("--batch-size", type=_auto(int), default="auto",
                   help="triplets per step (default: auto, the whole set up to 2**20)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p.set_defaults(func=_cmd_align)


def _auto(kind):
    """Argument type: the word ``auto`` (the estimator's own rule) or a number of ``kind``."""
    def parse(text):
        return "auto" if text == "auto" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _float_list(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reprlign",
        description="reprlign: representational alignment in the scikit-learn style.",
    )
    parser.add_argument("--version", action="version", version=f"reprlign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="align bundled MiniLM features to THINGS human odd-one-out judgments",
        description="Zero-shot odd-one-out accuracy of bundled MiniLM features on the THINGS "
        "noise-ceiling set, then a grouped-CV grid search over alignment strength of "
        "HumanAlignTransformer (gLocal): held-out accuracy and KL to the human choice "
        "distributions, the human noise ceiling, a table and a PNG plot.",
    )
    demo.add_argument("--features", default="minilm-words",
                      choices=["minilm-words", "minilm-definitions"],
                      help="which bundled feature set to align (default: minilm-words)")
    demo.add_argument("--reg", type=_float_list, default=[0.1, 1.0, 10.0, 100.0],
                      help="comma-separated grid of reg, the pull toward the original "
                      "representation (gLocal's lambda) (default: 0.1,1,10,100)")
    demo.add_argument("--local-weight", type=_float_list, default=[0.0, 0.1],
                      help="comma-separated grid of local_weight (gLocal's alpha; 0 = global "
                      "transform) (default: 0,0.1)")
    demo.add_argument("--n-splits", type=int, default=5,
                      help="folds of the grouped cross-validation (default: 5)")
    demo.add_argument("--output", default="reprlign_demo.png",
                      help="path of the PNG plot, or 'none' (default: reprlign_demo.png in the "
                      "current directory)")
    demo.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    demo.set_defaults(func=_cmd_demo)
    _add_score_parser(sub)
    _add_align_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
