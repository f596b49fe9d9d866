"""Coverage of the confidence intervals of :func:`bootstrap` on data with known population values.

The simulation is ``reproductions/interval_coverage.py``, whose long run (500
replications, every resampling scheme) makes the table in the user guide. Here the
default scheme runs with 120 replications per measure (a few seconds each): a
coverage of 0.95 is then measured to +-0.02, and the test allows three standard
errors.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPS = 120
_SCRIPT = Path(__file__).resolve().parents[2] / "reproductions" / "interval_coverage.py"
_spec = importlib.util.spec_from_file_location("interval_coverage", _SCRIPT)
simulation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(simulation)


@pytest.fixture(scope="module")
def truth():
    return simulation.population_values()


@pytest.mark.parametrize("name", list(simulation.MEASURES))
def test_default_interval_covers_the_population_value(name, truth):
    cov, _ = simulation.coverage(name, truth, REPS)
    se = np.sqrt(0.95 * 0.05 / REPS)
    assert abs(cov - 0.95) <= 3 * se, f"{name}: coverage {cov:.3f} over {REPS} replications"
