"""OpenMP settings for every process that trains, set before torch loads.

libgomp reads them once, when torch is imported, so they go into the environment first: the app
(:mod:`ui.serve`), the worker processes (:mod:`core.executors`), Ray's workers
(:mod:`core.ray_backend`) and the test suite apply :data:`OPENMP_ENV` from here. This module
imports nothing but :mod:`os`, so that importing it never loads torch.

``GOMP_SPINCOUNT``: a waiting OpenMP thread spins 30,000 iterations (libgomp's default 300,000)
before it sleeps, so that a run's threads do not busy-wait on cores that the server and the other
runs need. GAN default, 2 threads, 2 cores: with two other busy processes 2.3 steps/s at the
default, 7.8 at 30,000 (7.2 never spinning, ``OMP_WAIT_POLICY=PASSIVE``); on an idle machine 24.4
at the default, 20.7 at 30,000, 10.8 never spinning (``bench/results/throughput.md``). A shared
server is rarely idle.
"""

from __future__ import annotations

import os

OPENMP_ENV: dict[str, str] = {"GOMP_SPINCOUNT": "30000"}


def apply_openmp_env() -> None:
    """Put :data:`OPENMP_ENV` into ``os.environ`` where a variable is not set already (an
    operator's own setting wins). Has an effect on this process's OpenMP only before torch is
    imported; child processes inherit it."""
    for key, value in OPENMP_ENV.items():
        os.environ.setdefault(key, value)
