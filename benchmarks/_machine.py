"""Describe the machine a benchmark ran on, for the recorded results."""

from __future__ import annotations

import os
import platform


def describe() -> str:
    """One line: CPU model, cores, BLAS, numpy/torch/sklearn versions."""
    import numpy as np
    import sklearn

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        torch_v = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
        if torch.cuda.is_available():
            torch_v += f", CUDA {torch.cuda.get_device_name(0)}"
    except ImportError:
        torch_v = "torch missing"
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = f", {info[0]['internal_api']} {info[0].get('architecture', '')}".rstrip()
    except ImportError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{blas}; python {platform.python_version()}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, {torch_v}"
    )
