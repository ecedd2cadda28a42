"""Segmentation of coloured-shape scenes: three models on the same images and batches.

* ``clip`` — a decoder trained on top of the **frozen** image encoder of a CLIP run (handed over
  by :mod:`core.handoff` as :data:`core.handoff.IMAGE_ENCODERS`): only the decoder learns.
* ``scratch`` — the same encoder-decoder, encoder included, trained from scratch, no skips.
* ``unet`` — a U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for
  Biomedical Image Segmentation", MICCAI 2015): the same encoder, and a decoder that
  concatenates the encoder's feature map of the same resolution before each of its convolutions
  (skip connections), with toggles for each skip (``none`` / ``deepest`` / ``shallowest`` /
  ``all``).

Two tasks (``task``): ``binary`` labels every object pixel; ``prompted`` labels only the pixels
of the objects a prompt names (``"segment the red circles"``), as CLIPSeg does (Lüddecke &
Ecker, "Image Segmentation Using Text and Image Prompts", CVPR 2022): each decoder is
FiLM-modulated by the embedding of the prompt. CLIPSeg takes that embedding from CLIP's text
encoder; a CLIP run here hands over only its image encoder, so each prompted model learns its
own small bag-of-words prompt encoder (:class:`~core.vision.segmentation.model.PromptEncoder`).

Losses: binary cross-entropy on the logits, soft Dice ``1 - (2 Σ p g + 1) / (Σ p + Σ g + 1)``
per image (Milletari et al., "V-Net", 2016), or their sum. Metrics on held-out scenes (the
object pixels are the positive class, pooled over the set): IoU ``TP / (TP + FP + FN)``, mean
IoU over object and background, Dice ``2 TP / (2 TP + FP + FN)``, pixel accuracy, boundary
accuracy (pixel accuracy on pixels within 1 px of a true edge), the predict-all-background
baseline's pixel accuracy (its IoU is 0) and, prompted, the IoU of marking every object
(a model that ignores the prompt).

Modules: :mod:`~core.vision.segmentation.data` (scenes, prompts), :mod:`~.model` (networks,
losses, metrics), :mod:`~.train` (config, trainer, typed prompts).

Shapes: images (B, 3, S, S) in [0, 1]; masks (B, 1, S, S) in {0, 1}; logits (B, 1, S, S);
prompts (B, 3) int64 ``(color, shape, size)``, ``-1`` where unnamed.
"""

from core.vision.segmentation.data import *  # noqa: F403
from core.vision.segmentation.model import *  # noqa: F403
from core.vision.segmentation.train import *  # noqa: F403
