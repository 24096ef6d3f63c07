"""What this machine offers a sweep, and how to get the cluster backend (light imports only:
``kanstudio --help`` reads these)."""

from __future__ import annotations

import os

__all__ = ["available_cores", "RAY_INSTALL"]

RAY_INSTALL = 'pip install "kanstudio[cluster]"   (or: pip install "ray>=2.9")'


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)
