"""core.representation.clip: a short run learns zero-shot classification without collapsing;
the losses, typed prompts and the hand-over of its image encoder."""


import pytest
import torch

from core import handoff
from core.checks import UnknownWords
from core.data.captions import COLORS, SHAPES
from core.data.scenes import COMBOS
from core.representation import clip

SHORT = clip.ClipConfig(width=8, batch_size=32, lr=2e-3, steps=150, seed=1, device="cpu")


@pytest.fixture(scope="module")
def short_run():
    snaps = [s for s in clip.train(SHORT) if not s.heartbeat]
    return snaps


def test_zero_shot_on_seen_compositions_beats_chance_widely(short_run):
    first, last = short_run[0].metrics, short_run[-1].metrics
    assert last["loss"] < first["loss"] - 1.0
    chance = 1 / len(COMBOS)
    assert last["zero_shot_seen"] > 6 * chance, last
    assert last["test_acc"] == last["zero_shot_seen"]
    assert last["zero_shot_heldout_only"] >= 0.0  # reported, whatever it is


def test_identity_targets_do_not_collapse(short_run):
    first, last = short_run[0].metrics, short_run[-1].metrics
    assert first["mean_cos"] > 0.9  # an untrained encoder maps everything to one direction
    assert last["mean_cos"] < 0.5 and last["mean_cos_text"] < 0.5, last


def test_final_snapshot_hands_over_a_loadable_image_encoder(short_run):
    last = short_run[-1]
    assert last.final and last.model is not None
    payload = last.artifacts[handoff.IMAGE_ENCODERS]
    checked = handoff._CHECKS[handoff.IMAGE_ENCODERS](payload, "the run")
    enc = handoff.image_encoder(checked)
    feats = enc(torch.rand(2, 3, 48, 48))  # fully convolutional: other sizes work too
    assert [f.shape[1:] for f in feats] == [(8, 48, 48), (16, 24, 24), (32, 12, 12)]
    assert any(e.run == handoff.run_name(SHORT) for e in handoff.finished(handoff.IMAGE_ENCODERS))
    sim = last.artifacts["similarity"]
    assert sim.shape == (16, 16) and len(last.artifacts["sim_captions"]) == 16


def test_typed_prompts_classify_and_retrieve(short_run):
    model = short_run[-1].model
    images, ids = clip.gallery()
    prompts = clip.parse_prompts("A red circle, a blue square\na green cross")
    assert prompts == ["a red circle", "a blue square", "a green cross"]
    probs = clip.zero_shot_probs(model, images, prompts)
    assert probs.shape == (len(images), 3)
    assert abs(probs.sum(1) - 1).max() < 1e-5
    idx, cos = clip.retrieve(model, images, "a big yellow triangle", k=5)
    assert len(idx) == 5 and (cos[:-1] >= cos[1:]).all()


def test_unknown_words_get_a_message_listing_the_known_ones():
    with pytest.raises(UnknownWords) as e:
        clip.parse_prompts("a purple circle, a red blob")
    msg = str(e.value)
    assert "blob, purple" in msg and "red" in msg and "circle" in msg
    for bad in ("", " , ,", "a red circle " * 3, ",".join(["a red circle"] * 21)):
        with pytest.raises(ValueError):
            clip.parse_prompts(bad)
    with pytest.raises(UnknownWords, match="import, os"):  # text is never evaluated
        clip.parse_prompts("__import__('os')")


def test_losses_reward_alignment():
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    other = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    scale = torch.tensor(50.0)
    tokens = torch.arange(8)[:, None].repeat(1, 3)
    for kind in clip.LOSSES:
        aligned = clip.clip_loss(z, z, scale, kind, tokens)
        shuffled = clip.clip_loss(z, other, scale, kind, tokens)
        assert aligned < 0.1 < shuffled, kind
    # two identical captions: identity targets push their embeddings apart, multi-positive
    # targets pull them together
    tokens[1] = tokens[0]
    pair = z.clone()
    pair[1] = pair[0]
    for kind, better, worse in (("identity", z, pair), ("multi_positive", pair, z)):
        assert clip.clip_loss(better, better, scale, kind, tokens) < clip.clip_loss(
            worse, worse, scale, kind, tokens) - 0.1, kind
    with pytest.raises(ValueError, match="unknown loss"):
        clip.clip_loss(z, z, scale, "hard", tokens)


def test_held_out_compositions_never_appear_in_training():
    data = clip.make_data(0, n_train=400, per_combo=2)
    texts = {clip.VOCAB.decode(t) for t in data.tok_train[:, 0]}
    for color, shape in clip.HELD_OUT:
        assert f"a {color} {shape}" not in texts
    assert len(texts) == len(clip.SEEN)
    # every colour and every shape is still seen in some composition
    assert {c for c, _ in clip.SEEN} == set(COLORS) and {s for _, s in clip.SEEN} == set(
        SHAPES)

