"""Shared test set-up: offline data, small snapshot interval, a clean Streamlit cache."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LIVEPROP_OFFLINE", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("LIVEPROP_DATA", str(ROOT / ".pytest_data"))
# Before torch loads: OpenMP threads spin only briefly before they sleep. The suite runs two
# xdist workers, their servers and runs on two cores; long-spinning threads waited for
# descheduled siblings (tests/vision/test_vit.py + tests/sequences/test_transformer.py beside
# other work: 59.6 s -> 42.5 s never spinning). The app and its workers get the same.
from core.openmp import apply_openmp_env  # noqa: E402 (imports no torch)

apply_openmp_env()
# One torch thread per process: the suite's two xdist workers already fill both cores, and each
# engine would otherwise give its runs every core of the machine (two threads per run, twice).
os.environ.setdefault("LIVEPROP_CORES", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def shared_data() -> Path | None:
    """``../shared/data`` (real MNIST test set and Cora), when present."""
    from core.data import shared_data_dir

    return shared_data_dir()


@pytest.fixture
def clean_streamlit():
    """Clear Streamlit's resource cache before and after an AppTest (one session id is shared)."""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="session", autouse=True)
def _fork_server():
    """Start the fork server behind the runs' worker processes once (it imports torch and every
    topic), so no single test pays for it inside its own timeout."""
    from core.executors import warm_up

    warm_up()
    yield
