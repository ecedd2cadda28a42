"""The captioning data: the fixed train / held-out splits of a caption dataset
(:func:`core.data.captions.load_captions`), cached in memory."""

from __future__ import annotations

import functools

from core.data.captions import CaptionData, load_captions

__all__ = ["DATA_SEED", "get_data"]

DATA_SEED = 0  # the scenes and the held-out split are fixed, whatever the training seed


@functools.lru_cache(maxsize=4)
def get_data(dataset: str = "shapes", n_train: int = 4000, style: str = "long",
             n_test: int = 500) -> tuple[CaptionData, CaptionData]:
    """The fixed train / held-out splits (cached in memory; do not modify the tensors)."""
    return load_captions(dataset, n_train=n_train, n_test=n_test, seed=DATA_SEED, style=style)
