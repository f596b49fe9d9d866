"""Where the bundled files live, and how they are read."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_path(name: str) -> Path:
    """Path of a bundled data file (package data, works from a wheel or a checkout)."""
    path = Path(str(resources.files("reprlign.datasets") / "data" / name))
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled data file {name!r} is missing from the installed package ({path}); "
            "reinstall reprlign"
        )
    return path
