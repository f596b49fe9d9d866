"""The command line: ``python -m reprlign {demo, ...}``.

Each subcommand is a function ``_cmd_<name>(args) -> int`` registered in
:func:`build_parser`; the heavy imports happen inside the command, so
``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _cmd_demo(args) -> int:
    from .datasets import FEATURE_SETS, load_things_features, load_things_triplets
    from .triplets import choice_kl, choice_probabilities, noise_ceiling, odd_one_out_accuracy

    data = load_things_triplets()
    ceiling = noise_ceiling(data.triplets)
    print(f"THINGS noise-ceiling set: {len(data.triplets):,} responses to "
          f"{len(data.unique_triplets):,} triplets over {data.n_objects:,} concepts")
    print(f"human noise ceiling (leave-one-out majority): {ceiling:.3f}   chance: 0.333\n")
    print(f"{'features':<22}{'zero-shot acc':>15}{'KL to humans':>15}")
    names = sorted(FEATURE_SETS) if args.features == "all" else [args.features]
    for name in names:
        F = load_things_features(name)
        acc = odd_one_out_accuracy(F, data.triplets, similarity="cosine")
        proba = choice_probabilities(F, data.unique_triplets, similarity="cosine",
                                     temperature=args.temperature)
        kl = choice_kl(data.choice_proba, proba)
        print(f"{name:<22}{acc:>15.3f}{kl:>15.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reprlign",
        description="reprlign: representational alignment in the scikit-learn style.",
    )
    parser.add_argument("--version", action="version", version=f"reprlign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="odd-one-out agreement of bundled MiniLM features with THINGS human judgments",
        description="Zero-shot odd-one-out accuracy and KL divergence to human choice "
        "distributions of the bundled MiniLM features on the THINGS noise-ceiling set.",
    )
    demo.add_argument("--features", default="all",
                      choices=["all", "minilm-words", "minilm-definitions"],
                      help="which bundled feature set to evaluate (default: all)")
    demo.add_argument("--temperature", type=float, default=0.1,
                      help="softmax temperature of cosine similarities for the KL (default: 0.1)")
    demo.set_defaults(func=_cmd_demo)
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
