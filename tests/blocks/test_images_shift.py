"""core.blocks.images.random_shift: the "random shifts" augmentation of /cnn and the SSGAN."""

import torch
import torch.nn.functional as F

from core.blocks.images import random_shift


def test_each_image_is_itself_shifted_by_an_offset_within_the_range():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 2, 9, 7)
    y = random_shift(x, 2, g)
    assert y.shape == x.shape
    padded = F.pad(x, (2,) * 4)
    offsets = set()
    for i in range(len(x)):  # exactly one window of the zero-padded image matches
        hits = [(r, c) for r in range(5) for c in range(5)
                if torch.equal(y[i], padded[i, :, r:r + 9, c:c + 7])]
        assert len(hits) == 1, (i, hits)
        offsets.add(hits[0])
    assert len(offsets) > 4, "the offsets differ from image to image"
    assert torch.equal(random_shift(x, 0, g), x)
