"""Convolutional networks, trained live next to an MLP of the same size (after CNN Explainer).

Model: ``x -> [Conv2d(k, s, p) -> (BatchNorm2d) -> activation -> (Pool 2x2)] * L -> Flatten
-> (Dropout) -> Linear -> logits``; block ``i`` has ``min(channels * 2**i, 128)`` channels. The
baseline is a one-hidden-layer MLP whose width makes its parameter count match the CNN's; both
train on the very same mini-batches with the same optimizer and learning rate.

Each conv layer maps a map of side ``n`` to side ``(n + 2p - k) / s + 1`` (floored by PyTorch
when it is not an integer); :func:`layer_plan` tabulates that, the parameters and the receptive
field ``r_out = r_in + (k - 1) j_in``, ``j_out = j_in s`` before anything trains.

References:
    LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition"
    (1998). Wang et al., "CNN Explainer" (IEEE VIS 2020). Dumoulin & Visin, "A guide to
    convolution arithmetic for deep learning" (2016). Araujo, Norris & Sim, "Computing receptive
    fields of convolutional neural networks", Distill (2019). Selvaraju et al., "Grad-CAM"
    (ICCV 2017); Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks" (saliency,
    2014). Benchmark reference: pytorch/examples ``mnist/main.py``.

Modules: :mod:`~core.vision.cnn.plan` (the shape table), :mod:`~.model` (the CNN and the
equal-size MLP), :mod:`~.data` (datasets, the train/test split, the probe images),
:mod:`~.evaluation` (metrics, per-class report, filters, feature maps, Grad-CAM, saliency),
:mod:`~.formula` (one conv unit by hand), :mod:`~.own_image` (your own image, checked and
classified), :mod:`~.train` (config, trainer, demo ``cnn``).

Shapes: images ``(N, C, H, W)`` float in [0, 1]; labels ``(N,)`` int64; logits ``(N, K)``.
"""

from core.vision.cnn.data import *  # noqa: F403
from core.vision.cnn.evaluation import *  # noqa: F403
from core.vision.cnn.formula import *  # noqa: F403
from core.vision.cnn.model import *  # noqa: F403
from core.vision.cnn.own_image import *  # noqa: F403
from core.vision.cnn.plan import *  # noqa: F403
from core.vision.cnn.train import *  # noqa: F403
