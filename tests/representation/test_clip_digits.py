"""core.representation.clip on digit strips: MNIST digits read aloud, zero-shot; the strips'
data, the learning-rate schedule, and typed prompts in the digits' vocabulary."""

import numpy as np
import pytest
import torch

from core import handoff
from core.checks import UnknownWords
from core.data import digit_strips as ds
from core.representation import clip

DIGITS = clip.ClipConfig(data="digits", width=8, batch_size=64, steps=120, seed=1, device="cpu")


@pytest.fixture(scope="module")
def digit_run():
    return [s for s in clip.train(DIGITS) if not s.heartbeat]


def test_clip_on_digit_strips_reads_digits_zero_shot(digit_run):
    first, last = digit_run[1].metrics, digit_run[-1].metrics
    assert last["loss"] < first["loss"] - 1.0
    assert first["zero_shot_digit"] < 0.3
    assert last["zero_shot_digit"] > 0.6, last  # chance 0.1: ten words, no digit label ever
    assert last["zero_shot_seen"] > 0.02, last  # exact 3-digit strips among 1,000: chance 0.001
    assert last["zero_shot_heldout_only"] > 0.1, last  # among the 100 unseen: chance 0.01
    assert last["mean_cos"] < 0.5


def test_digit_run_hands_over_an_encoder_and_reads_typed_prompts(digit_run):
    last = digit_run[-1]
    payload = last.artifacts[handoff.IMAGE_ENCODERS]
    assert payload["data"] == "digits" and payload["image_size"] == ds.DIGIT_SIDE
    enc = handoff.image_encoder(handoff._CHECKS[handoff.IMAGE_ENCODERS](payload, "the run"))
    assert [f.shape[1] for f in enc(torch.rand(1, 3, 16, 48))] == [8, 16, 32]
    model = last.model
    images, captions = clip.digit_gallery()
    assert captions[:10] == list(clip.DIGIT_PROMPTS) and images.shape[1:] == (1, 16, 48)
    prompts = clip.parse_prompts("Zero, one, two, three, four, five, six, seven, eight, nine",
                                 vocab=model.vocab)
    probs = clip.zero_shot_probs(model, images[:10], prompts)
    assert probs.shape == (10, 10) and (probs.argmax(1) == np.arange(10)).mean() >= 0.5
    with pytest.raises(UnknownWords, match="ten.*it knows only: eight, five"):
        clip.parse_prompts("one ten", vocab=model.vocab)
    with pytest.raises(UnknownWords):  # the scenes' words are not the digits' words
        clip.parse_prompts("a red circle", vocab=model.vocab)


def test_strip_images_say_what_their_captions_say():
    x, digits, caps = ds.spoken_strips(60, "test", seed=2)
    assert x.shape == (60, 1, 16, 48) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 1
    for img, d, cap in zip(x, digits, caps):
        assert cap == " ".join(clip.DIGIT_PROMPTS[k] for k in d if k >= 0)
        for slot in range(3):  # a digit's slot has ink, an empty slot none
            ink = img[0, :, 16 * slot:16 * (slot + 1)].sum()
            assert (ink > 5) == (d[slot] >= 0)
    with pytest.raises(ValueError):
        ds.spoken_strips(2, lengths=(4,))


def test_held_out_sequences_never_appear_in_training():
    data = clip.make_strip_data(0, n_train=2000)
    texts = {clip.DIGIT_VOCAB.decode(t) for t in data.tok_train[:, 0]}
    held = {ds.spoken(s) for s in clip.HELD_OUT_STRIPS}
    assert len(held) == 100 and not texts & held
    three = {t for t in texts if len(t.split()) == 3}
    assert len(three) > 400 and {len(t.split()) for t in texts} == {1, 2, 3}
    for pos in range(3):  # every digit word is still seen at every position
        assert {t.split()[pos] for t in three} == set(clip.DIGIT_PROMPTS)
    assert (data.y_test[200:, None] == torch.tensor(
        [100 * a + 10 * b + c for a, b, c in clip.HELD_OUT_STRIPS])).any(1).all()


def test_strip_order_reaches_the_image_embedding():
    """Strips are pooled one cell per slot: swapping two digits changes the embedding."""
    torch.manual_seed(0)
    model = clip.Clip(clip.ClipConfig(data="digits", width=8)).eval()
    x = torch.from_numpy(ds.spoken_strips(4, "test", seed=3, sequences=[(3, 0, 7)])[0])
    swapped = torch.cat([x[..., 32:], x[..., 16:32], x[..., :16]], -1)
    with torch.no_grad():
        a, b = model.encode_image(x), model.encode_image(swapped)
    assert (a - b).norm(dim=1).min() > 1e-3


def test_learning_rate_warms_up_then_decays():
    cfg = clip.ClipConfig(warmup=10, steps=110)
    f = [clip.lr_factor(s, cfg) for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:10], f[1:10]))
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.01
    const = clip.ClipConfig(warmup=0, lr_schedule="constant", steps=50)
    assert {clip.lr_factor(s, const) for s in range(50)} == {1.0}
    short = clip.ClipConfig(warmup=30, steps=20)  # a short run warms up for a fifth of it
    assert clip.lr_factor(3, short) == pytest.approx(1.0)
