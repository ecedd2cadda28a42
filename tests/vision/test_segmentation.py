"""core.vision.segmentation: the U-Net beats the all-background baseline, the decoder on frozen
CLIP features learns (and leaves them frozen), the metrics and the scenes' masks are right, and the
prompted models segment what a prompt names better than marking every object."""

import numpy as np
import pytest
import torch

from core import handoff
from core.blocks.convnet import ConvEncoder
from core.checks import UnknownWords
from core.data.scenes import attribute_phrases, mask_scenes, phrase_index
from core.vision import segmentation as seg

PROMPTED_STEPS, PROMPTED = 300, {"image_size": 32, "n_objects": 3}
TINY = dict(image_size=32, width=8, batch_size=8, lr=5e-3, seed=2, device="cpu", n_objects=2,
            noise=0.05, clutter=0)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two spinning threads cost ten times the CPU
    (the results hold either way; the engine sets threads for runs, tests do not)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


def test_prompted_models_beat_marking_every_object():
    cfg = seg.SegConfig(task="prompted", clip_decoder=False, steps=PROMPTED_STEPS,
                        **{**TINY, **PROMPTED})
    first, last = final(cfg)
    m = last.metrics
    assert m["unet_loss"] < first.metrics["unet_loss"] - 0.2, m
    assert 0.15 < m["all_objects_iou"] < 0.6, m  # prompts name some of the objects
    assert m["unet_iou"] > m["all_objects_iou"], m
    assert len(last.artifacts["prompts"]) == seg.N_SHOWN
    # a color alone: the prompted U-Net marks that color's objects, not every object
    _, ids, attrs = seg.prompted_scenes(64, 32, 3, 0.05, 0, seed=cfg.seed + 10_000)
    x = seg.prompt_gallery(cfg, 64)
    colors = torch.stack([attrs[:, 0, 0], torch.full((64,), -1), torch.full((64,), -1)], 1)
    truth = seg.prompt_masks(ids, attrs, colors)
    with torch.no_grad():
        pred = last.model["unet"](x, colors) > 0
    iou, everything = seg.seg_metrics(pred, truth)["iou"], seg.seg_metrics(ids[:, None] >= 0,
                                                                          truth)["iou"]
    assert iou > everything + 0.1, (iou, everything)
    good = seg.segment_prompt(last.model, x[:3], "segment the red circles")
    assert set(good) == {"scratch", "unet"} and good["unet"].dtype == np.uint8
    with pytest.raises(UnknownWords, match="purple.*it knows only: red"):
        seg.segment_prompt(last.model, x[:3], "segment the purple circles")


def test_clip_decoder_reads_clips_text_embedding_of_the_prompt(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    cfg = seg.SegConfig(task="prompted", clip_run="width=8,batch_size=32,steps=60,seed=1",
                        steps=PROMPTED_STEPS, **{**TINY, **PROMPTED})
    first, last = final(cfg)
    m = last.metrics
    assert m["clip_loss"] < first.metrics["clip_loss"] - 0.1, m
    assert m["clip_iou"] > 0.15, m
    # it reads the prompt: asked for the first object's color it marks that color, asked for
    # another color it marks (almost) nothing of the first
    _, ids, attrs = seg.prompted_scenes(64, 32, 3, 0.05, 0, seed=cfg.seed + 10_000)
    x = seg.prompt_gallery(cfg, 64)
    colors = torch.stack([attrs[:, 0, 0], torch.full((64,), -1), torch.full((64,), -1)], 1)
    other = torch.stack([(colors[:, 0] + 1) % 5, colors[:, 1], colors[:, 2]], 1)
    truth = seg.prompt_masks(ids, attrs, colors)
    with torch.no_grad():
        right, wrong = (seg.seg_metrics(last.model["clip"](x, p) > 0, truth)["iou"]
                        for p in (colors, other))
    assert right > wrong + 0.2, (right, wrong)
    (export,) = handoff.finished(handoff.IMAGE_ENCODERS)
    table = handoff.phrase_embeddings(export.payload)
    assert table.shape == (len(attribute_phrases()), 32)
    assert torch.allclose(table.norm(dim=1), torch.ones(len(table)), atol=1e-4)
    encoder = last.model["clip"].prompt_encoder
    assert isinstance(encoder, seg.PhrasePromptEncoder) and torch.equal(encoder.table, table)
    red_circle = torch.tensor([[0, 0, -1]])
    assert attribute_phrases()[int(phrase_index(red_circle))] == "a red circle"
    assert torch.equal(encoder(red_circle)[0], table[phrase_index(red_circle)][0])


def test_prompted_task_needs_a_clip_run_on_scenes():
    state = ConvEncoder(8, 3).state_dict()
    digits = {"width": 8, "depth": 3, "state_dict": state, "image_size": 16, "data": "digits"}
    with pytest.raises(ValueError, match="trained on digit strips"):
        seg.clip_prompts(digits)
    bad = {**digits, "data": "scenes", "phrase_embeddings": torch.full((3, 32), float("nan"))}
    with pytest.raises(ValueError, match="phrase embeddings are not a finite"):
        handoff._check_encoder(bad, "that file")


def test_prompt_masks_select_the_named_objects():
    x, ids, attrs = seg.prompted_scenes(5, size=48, n_objects=4, noise=0.0, clutter=3, seed=1)
    assert x.shape == (5, 3, 48, 48) and ids.shape == (5, 48, 48) and attrs.shape == (5, 4, 3)
    everything = torch.zeros(5, 1, 48, 48)
    for k in range(4):  # a prompt naming object k exactly covers its visible pixels
        masks = seg.prompt_masks(ids, attrs, attrs[:, k])
        assert masks[:, 0][ids == k].eq(1).all()
        everything = torch.maximum(everything, masks)
    assert torch.equal(everything[:, 0] > 0, ids >= 0)  # and no background pixel
    red = torch.tensor([[0, -1, -1]] * 5)
    want = torch.stack([torch.isin(ids[i], torch.nonzero(attrs[i, :, 0] == 0).flatten())
                        for i in range(5)])
    assert torch.equal(seg.prompt_masks(ids, attrs, red)[:, 0] > 0, want)
    gen = torch.Generator().manual_seed(0)
    prompts = seg.sample_prompts(attrs.repeat(40, 1, 1), gen)
    assert ((prompts[:, 0] >= 0) | (prompts[:, 1] >= 0)).all()  # a color or a shape, always
    assert (prompts[:, 2] >= 0).any() and (prompts[:, 2] < 0).any()


def test_typed_prompts_are_parsed_not_evaluated():
    assert seg.parse_prompt("Segment the RED circles!") == (0, 0, -1)
    assert seg.parse_prompt("big crosses") == (-1, 3, 1)
    assert seg.prompt_text((0, 0, -1)) == "red circle"
    assert seg.prompt_text((1, -1, 0)) == "small green objects"
    with pytest.raises(UnknownWords, match=r"never saw the word\(s\) import, os, purple"):
        seg.parse_prompt("purple __import__('os')")
    for bad, why in [("red blue circle", "at most one color"), ("the big", "a color or a shape"),
                     ("", "a color or a shape")]:
        with pytest.raises(ValueError, match=why):
            seg.parse_prompt(bad)
