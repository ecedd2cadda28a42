"""core.vision.segmentation: the U-Net beats the all-background baseline, the decoder on frozen
CLIP features learns (and leaves them frozen), the metrics and the scenes' masks are right."""

import pytest
import torch

from core import handoff
from core.blocks.convnet import ConvEncoder
from core.data.scenes import mask_scenes
from core.vision import segmentation as seg

TINY = dict(image_size=32, width=8, batch_size=8, lr=5e-3, seed=2, device="cpu")


def final(cfg):
    snaps = [s for s in seg.train(cfg) if not s.heartbeat]
    return snaps[0], snaps[-1]


def test_unet_beats_the_all_background_baseline():
    first, last = final(seg.SegConfig(clip_decoder=False, steps=100, **TINY))
    m = last.metrics
    assert m["unet_loss"] < first.metrics["unet_loss"] - 0.3
    assert m["unet_iou"] > 0.5, m  # all background: IoU 0
    assert m["unet_pixel_acc"] > m["baseline_pixel_acc"] + 0.03, m
    assert set(last.artifacts["shown"]) == {"input", "truth", "scratch", "unet"}


def test_decoder_on_frozen_clip_features_learns(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    cfg = seg.SegConfig(clip_run="width=8,batch_size=16,steps=30,seed=1", steps=60, **TINY)
    snaps = list(seg.train(cfg))
    assert any(s.heartbeat and "training the clip run" in s.phase for s in snaps)
    first, last = [s for s in snaps if not s.heartbeat][0], snaps[-1]
    assert last.metrics["clip_loss"] < first.metrics["clip_loss"] - 0.2
    assert last.metrics["clip_iou"] > 0.3, last.metrics
    (export,) = handoff.finished(handoff.IMAGE_ENCODERS)
    frozen = handoff.image_encoder(export.payload)
    used = last.model["clip"].encoder
    for (k, a), b in zip(frozen.state_dict().items(), used.state_dict().values()):
        assert torch.equal(a, b), f"the CLIP encoder changed: {k}"


def test_metrics_and_the_baseline():
    y = torch.zeros(2, 1, 8, 8)
    y[:, :, 2:5, 2:5] = 1
    perfect = seg.seg_metrics(y > 0.5, y)
    assert perfect == pytest.approx({"iou": 1, "miou": 1, "dice": 1, "pixel_acc": 1,
                                     "boundary_acc": 1})
    none = seg.seg_metrics(torch.zeros_like(y, dtype=torch.bool), y)
    share = 9 / 64
    assert none["iou"] == 0 and none["dice"] == 0
    assert none["pixel_acc"] == pytest.approx(1 - share)
    sanity = seg.mask_sanity(y)
    assert sanity["unique"] == [0.0, 1.0] and sanity["baseline_iou"] == 0.0
    assert sanity["object_share"] == pytest.approx(share)
    assert sanity["baseline_pixel_acc"] == pytest.approx(1 - share)
    band = seg.boundary_band(y)
    assert band[0, 0, 3, 3].item() is False and band[0, 0, 2, 2] and band[0, 0, 1, 1]
    for kind in seg.LOSSES:
        assert seg.seg_loss(y * 20 - 10, y, kind) < 0.1 < seg.seg_loss(10 - y * 20, y, kind)


def test_mask_scenes_are_binary_and_match_the_objects():
    x, m = mask_scenes(6, size=48, n_objects=3, noise=0.0, clutter=4, seed=0)
    assert x.shape == (6, 3, 48, 48) and m.shape == (6, 1, 48, 48)
    assert set(m.ravel().tolist()) == {0.0, 1.0}
    bright = (abs(x - 0.12) > 0.05).any(1, keepdims=True)
    assert bright[m > 0].all()  # every object pixel is drawn
    assert (bright & (m == 0)).any()  # clutter strokes are drawn but are background
    with pytest.raises(ValueError):
        mask_scenes(1, size=8)


def test_skip_toggles_change_the_unet():
    base = dict(clip_decoder=False)
    assert seg.SegConfig(skips="none", **base).skip_stages == ()
    assert seg.SegConfig(skips="all", **base).skip_stages == (0, 1)
    nets = {s: seg.SegNet(ConvEncoder(8), seg.SegConfig(skips=s, **base).skip_stages)
            for s in seg.SKIPS}
    x = torch.rand(2, 3, 32, 32)
    assert all(n(x).shape == (2, 1, 32, 32) for n in nets.values())
    counts = {s: sum(p.numel() for p in n.parameters()) for s, n in nets.items()}
    assert counts["none"] < counts["deepest"] < counts["all"]
    assert counts["none"] < counts["shallowest"] < counts["all"]
    with pytest.raises(ValueError, match="not a setting"):
        seg.SegConfig(clip_run="nonsense")
