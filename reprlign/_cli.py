"""The command line: ``python -m reprlign {demo, score, align}``.

Each subcommand is a function ``_cmd_<name>(args) -> int`` registered in
:func:`build_parser`; the heavy imports happen inside the command, so
``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def _read_array(path, what, *, dtype=float):
    """The array in a .npy, .npz (one array) or text file; errors name the file.

    Binary files are recognised by their content, not their suffix; text files
    are whitespace-separated (comma-separated for .csv), ``#`` starts a comment.
    """
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise _CLIError(f"{what} file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(6)
    try:
        if head == _NPY_MAGIC:
            return np.load(path, allow_pickle=False)
        if head[:4] == _ZIP_MAGIC:
            with np.load(path, allow_pickle=False) as z:
                if len(z.files) != 1:
                    raise _CLIError(f"{path}: .npz with {len(z.files)} arrays {z.files}; "
                                    f"save exactly one")
                arr = z[z.files[0]]
                if not isinstance(arr, np.ndarray):  # a zip of other files
                    raise _CLIError(f"{path}: a zip archive that is not an .npz of arrays")
                return arr
        return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2,
                          dtype=dtype, comments="#")
    except _CLIError:
        raise
    except UnicodeDecodeError:
        raise _CLIError(f"{path}: neither a text table nor a .npy/.npz file") from None
    except Exception as exc:  # unreadable file: say which one and why
        raise _CLIError(f"{path}: could not read {what}: {exc}") from None


def _load_table(path, what, *, min_rows=2):
    """A 2-D float array of finite numbers, one row per stimulus or object."""
    import numpy as np

    arr = _read_array(path, what)
    if arr.ndim != 2:
        raise _CLIError(f"{path}: expected a 2-D (n, d) array, got shape {arr.shape}")
    if np.iscomplexobj(arr):
        raise _CLIError(f"{path}: complex values (dtype {arr.dtype}) are not supported; save "
                        f"the real part, or real and imaginary parts as separate columns")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise _CLIError(f"{path}: expected numbers, got dtype {arr.dtype}")
    if arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise _CLIError(f"{path}: shape {arr.shape}: {what} need at least {min_rows} rows "
                        f"(one per stimulus) and one column")
    arr = arr.astype(np.float64, copy=False)
    bad = int((~np.isfinite(arr)).any(axis=1).sum())
    if bad:
        raise _CLIError(f"{path}: {bad} row(s) contain NaN or infinite values")
    return arr


def _load_triplets(path, fmt):
    """Canonical 0-based triplets from a text, .npy or .npz file in format ``fmt``."""
    import numpy as np

    from .triplets import from_things, validate_triplets

    raw = _read_array(path, "triplets", dtype=np.int64)
    if raw.ndim != 2 or raw.size == 0:
        raise _CLIError(f"{path}: expected a 2-D table of triplets, got shape {raw.shape}")
    if not np.issubdtype(raw.dtype, np.integer):
        ok = np.issubdtype(raw.dtype, np.floating) and np.isfinite(raw).all()
        if not (ok and (raw == np.round(raw)).all()):
            raise _CLIError(f"{path}: triplets must be integer object indices, got dtype "
                            f"{raw.dtype}")
        raw = raw.astype(np.int64)
    if fmt == "things" and raw.shape[1] < 4:
        raise _CLIError(f"{path}: --format things needs 4 columns (1-based obj1 obj2 obj3, then "
                        f"the odd one out's position 1-3), found {raw.shape[1]}; for 0-based "
                        f"rows with the odd one out last, pass --format canonical")
    if fmt == "canonical" and raw.shape[1] != 3:
        raise _CLIError(f"{path}: --format canonical needs 3 columns (0-based, odd one out "
                        f"last), found {raw.shape[1]}")
    try:
        return from_things(raw) if fmt == "things" else validate_triplets(raw, name="triplets")
    except ValueError as exc:
        raise _CLIError(f"{path}: {exc}") from None


def _check_device(device):
    """``device`` if torch can use it on this machine (None passes: numpy)."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise _CLIError(f"--device {device!r} is not a torch device; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise _CLIError(f"--device {device}: no CUDA device is visible on this machine")
    return device


def _check_writable(path):
    """The output path (``.npz`` appended as numpy does), checked before any work is done."""
    import os

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    parent = path.parent
    if not parent.is_dir():
        raise _CLIError(f"--out {path}: the folder {parent} does not exist")
    if path.is_dir():
        raise _CLIError(f"--out {path} is a folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise _CLIError(f"--out {path}: not writable")
    return path


def _score(args) -> int:
    from .measures import RSAScorer

    device = _check_device(args.device)
    A = _load_table(args.a, "features")
    B = _load_table(args.b, "features")
    if A.shape[0] != B.shape[0]:
        raise _CLIError(f"{args.a} has shape {A.shape} and {args.b} has shape {B.shape}: "
                        f"both need one row per stimulus, in the same order")
    if args.metric == "mutual_knn" and args.k >= A.shape[0]:
        raise _CLIError(f"--k {args.k} must be smaller than the number of stimuli "
                        f"({A.shape[0]})")
    scorer = RSAScorer(metric=args.metric, debiased=args.debiased, kernel=args.kernel,
                       rdm_metric=args.rdm_metric, compare=args.compare, k=args.k,
                       device=device, n_bootstrap=args.n_bootstrap,
                       confidence=args.confidence, random_state=args.seed)
    print(f"{args.a} {A.shape} vs {args.b} {B.shape}: {scorer!r}")
    try:
        if not args.ci:
            print(f"{args.metric} = {scorer.score(A, B):.6f}")
            return 0
        print(f"resampling the stimuli {args.n_bootstrap} times ...", flush=True)
        res = scorer.score_ci(A, B, verbose=True)  # a progress bar on a terminal
    except (ValueError, TypeError) as exc:  # the measure rejects these data: say why
        raise _CLIError(f"--metric {args.metric} on {args.a} (X) and {args.b} (Y): "
                        f"{exc}") from None
    print(f"{args.metric} = {float(res.value):.6f}   {args.confidence:.0%} CI "
          f"[{float(res.low):.6f}, {float(res.high):.6f}] ({res.ci_method} interval, "
          f"{args.n_bootstrap} resamples of half the stimuli without replacement)")
    return 0


def _fit(estimator, T, what):
    """``estimator.fit(T)``; the estimator's own input errors become CLI errors."""
    try:
        return estimator.fit(T)
    except (ValueError, TypeError) as exc:
        hint = (" (on the command line: leave out --early-stopping)"
                if "early_stopping" in str(exc) else "")
        raise _CLIError(f"fitting on {what}: {exc}{hint}") from None


def _held_out(args, F, T, make):
    """Grouped hold-out check: fit on part of the triplets, score on the rest."""
    import warnings

    import numpy as np
    from sklearn.model_selection import GroupShuffleSplit

    from .triplets import noise_ceiling, odd_one_out_accuracy, triplet_groups

    groups = triplet_groups(T)
    split = GroupShuffleSplit(n_splits=1, test_size=args.holdout, random_state=args.seed)
    try:
        train, test = next(split.split(T, groups=groups))
    except ValueError:  # an empty side
        raise _CLIError(f"{args.triplets}: {len(np.unique(groups))} distinct triplet(s) are "
                        f"too few to hold out {args.holdout:.0%} of them; pass --holdout 0 to "
                        f"skip the held-out check") from None
    print(f"held-out check: fitting on {len(train):,} triplets, testing on {len(test):,} "
          f"({args.holdout:.0%} of the distinct triplets; repeats of a triplet stay on one "
          f"side)", flush=True)
    est = _fit(make(), T[train], f"the {len(train):,} training triplets")
    before = odd_one_out_accuracy(F, T[test], similarity="dot")
    after = est.score(T[test])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ceiling = f"human noise ceiling {noise_ceiling(T[test]):.3f}"
        except ValueError:  # no triplet answered twice
            ceiling = "no noise ceiling (no held-out triplet was answered twice)"
    print(f"held-out odd-one-out accuracy: {before:.3f} before, {after:.3f} after; "
          f"{ceiling}; chance 0.333")


def _align(args) -> int:
    import numpy as np

    from .alignment import HumanAlignTransformer
    from .triplets import odd_one_out_accuracy

    out = _check_writable(args.out)
    device = _check_device(args.device)
    F = _load_table(args.features, "features", min_rows=3)
    T = _load_triplets(args.triplets, args.format)
    if T.max() >= F.shape[0]:
        raise _CLIError(f"{args.triplets} (shape {T.shape}) refers to object {int(T.max())}, "
                        f"but {args.features} has shape {F.shape}: only {F.shape[0]} objects")

    def make():
        return HumanAlignTransformer(
            F, method=args.method, reg=args.reg, local_weight=args.local_weight,
            max_epochs=args.max_epochs, lr=args.lr, batch_size=args.batch_size,
            early_stopping=args.early_stopping, device=device, random_state=args.seed,
            verbose=0 if args.quiet else 1)

    print(f"HumanAlignTransformer(method={args.method!r}, reg={args.reg}, "
          f"local_weight={args.local_weight}, lr={args.lr}, batch_size={args.batch_size}, "
          f"max_epochs={args.max_epochs})\non {len(T):,} triplets ({args.triplets}) over "
          f"{F.shape[0]:,} objects with {F.shape[1]} features ({args.features})", flush=True)
    if args.holdout > 0:
        _held_out(args, F, T, make)
    print(f"fitting on all {len(T):,} triplets for the saved transform", flush=True)
    est = _fit(make(), T, f"the {len(T):,} triplets")
    before = odd_one_out_accuracy(F, T, similarity="dot")
    after = est.score(T)
    np.savez(out, W=est.W_, b=est.b_, mean=est.mean_, scale=est.scale_,
             temperature=est.temperature_, method=args.method, reg=args.reg,
             local_weight=args.local_weight, n_epochs=est.n_epochs_)
    print(f"training odd-one-out accuracy (the triplets it was fitted on): {before:.3f} "
          f"before, {after:.3f} after ({est.n_epochs_} epochs)")
    print(f"wrote {out}: apply as ((F - mean) / scale) @ W + b")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def _reporting(fn, args) -> int:
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # one line, without our source paths
        try:
            return fn(args)
        except _CLIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2


def _cmd_score(args) -> int:
    return _reporting(_score, args)


def _cmd_align(args) -> int:
    return _reporting(_align, args)


# -- argument types: bad values are usage errors (exit status 2) -----------------------------
def _number(kind, low=None, high=None, *, low_open=False, high_open=False):
    """An argparse type: ``kind(text)`` within the given bounds."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high or value != value:  # value != value: NaN
            lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
            hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
            raise argparse.ArgumentTypeError(f"must be {lo}x{hi}, got {text}")
        return value
    return parse


_POSITIVE_INT = _number(int, 1)


def _auto(parse):
    """An argparse type: the word ``auto`` (the estimator's own rule) or what ``parse`` takes."""
    return lambda text: "auto" if text == "auto" else parse(text)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, except on/off flags and unset options."""

    def _get_help_string(self, action):
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)


def _add_score_parser(sub):
    from .measures.registry import FEATURE_MEASURES, MEASURES  # light: no numpy, no sklearn

    cka, rsa = MEASURES["cka"].params, MEASURES["rsa"].params
    p = sub.add_parser(
        "score", help="alignment of two feature files (CKA, RSA, Procrustes, mutual k-NN)",
        formatter_class=_HelpFormatter,
        description="Compare two representations of the same stimuli, one row per stimulus, "
        "saved as .npy, .npz (one array), .csv, .tsv or .txt.")
    p.add_argument("a", help="first representation, (n, d1)")
    p.add_argument("b", help="second representation, (n, d2)")
    p.add_argument("--metric", default=FEATURE_MEASURES[0], choices=FEATURE_MEASURES,
                   help="the measure")
    p.add_argument("--ci", action="store_true",
                   help="add a confidence interval from half-samples of the stimuli (basic "
                   "interval), with a progress bar on a terminal")
    p.add_argument("--debiased", action="store_true", help="unbiased HSIC for CKA")
    p.add_argument("--kernel", default=cka["kernel"].default, choices=cka["kernel"].choices,
                   help="CKA kernel")
    p.add_argument("--rdm-metric", default=rsa["rdm_metric"].default,
                   choices=rsa["rdm_metric"].choices, help="RDM dissimilarity for RSA")
    p.add_argument("--compare", default=rsa["compare"].default, choices=rsa["compare"].choices,
                   help="RDM comparator for RSA")
    p.add_argument("--k", type=_POSITIVE_INT, default=MEASURES["mutual_knn"].params["k"].default,
                   help="neighbours for mutual_knn")
    p.add_argument("--n-bootstrap", type=_number(int, 2), default=1000,
                   help="resamples for --ci")
    p.add_argument("--confidence", type=_number(float, 0, 1, low_open=True, high_open=True),
                   default=0.95, help="coverage for --ci")
    p.add_argument("--device", default=None, help="cpu or cuda (default: numpy, no torch)")
    p.add_argument("--seed", type=int, default=0, help="resampling seed")
    p.set_defaults(func=_cmd_score)


def _add_align_parser(sub):
    p = sub.add_parser(
        "align", help="fit a gLocal transform of a feature file to odd-one-out triplets",
        formatter_class=_HelpFormatter,
        description="Fit HumanAlignTransformer on triplets into a feature table and save the "
        "transform (W, b, mean, scale, temperature) as .npz.")
    p.add_argument("--features", required=True, help="(n_objects, d) features (.npy, ...)")
    p.add_argument("--triplets", required=True,
                   help="triplets, one per row: a text table (.tsv, .txt, .csv) or a .npy/.npz "
                   "integer array, in --format")
    p.add_argument("--format", default="things", choices=["things", "canonical"],
                   help="things: 1-based 'o1 o2 o3 choice' rows; canonical: 0-based, odd last")
    p.add_argument("--out", default="transform.npz", help="output .npz")
    p.add_argument("--method", default="glocal", choices=["glocal", "global", "naive"],
                   help="the transform's objective")
    p.add_argument("--reg", type=_number(float, 0), default=0.1,
                   help="pull toward the original (lambda)")
    p.add_argument("--local-weight", type=_number(float, 0, 1, high_open=True), default=0.1,
                   help="gLocal alpha")
    p.add_argument("--max-epochs", type=_auto(_POSITIVE_INT), default="auto",
                   help="passes over the triplets (auto: about 100 steps)")
    p.add_argument("--lr", type=_auto(_number(float, 0, low_open=True)), default="auto",
                   help="learning rate (auto: from the batch size)")
    p.add_argument("--batch-size", type=_auto(_POSITIVE_INT), default="auto",
                   help="triplets per step (auto: all of them up to 2**20)")
    p.add_argument("--early-stopping", action="store_true",
                   help="stop when the loss on a tenth of the training triplets stops improving "
                   "(without it: train to convergence and let --reg regularise)")
    p.add_argument("--holdout", type=_number(float, 0, 1, high_open=True), default=0.2,
                   help="fraction of the distinct triplets held out (repeats kept together) "
                   "to report held-out accuracy before the final fit on all of them; 0 skips "
                   "it (the check is a second fit)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of the fit and the hold-out")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p.set_defaults(func=_cmd_align)




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
    """Run the command line and return its exit status.

    Input errors print ``error: ...`` and return 2; argparse exits (``SystemExit``,
    status 2 for usage errors, 0 for ``--help``) as it always does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
