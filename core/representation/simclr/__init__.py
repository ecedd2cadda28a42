"""SimCLR: contrastive self-supervised learning of image features, with a few-label evaluation.

Method (Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, arXiv:2002.05709): every unlabelled image ``x`` is augmented twice
into two *views*; an encoder ``f`` maps each view to a feature vector ``h = f(x)`` and a small
projection head ``g`` maps ``h`` to ``z = g(h)``. The NT-Xent loss pulls the two views of the same
image together and pushes them away from the other ``2N - 2`` views in the batch:

    l(i, j) = -log( exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau) ),

with ``sim`` the cosine similarity and ``tau`` the temperature, averaged over all ``2N`` views.
After pretraining, the head ``g`` is dropped and the features ``h`` are evaluated with a *linear
probe*: logistic regression on frozen ``h`` using only ``k`` labelled images per class, against
(b) the same encoder trained from scratch on those labels, (c) logistic regression on raw pixels
and optionally (d) fine-tuning the pretrained encoder.

Shapes: images ``(N, C, H, W)`` floats in [0, 1]; features ``h`` ``(N, feat_dim)``; projections
``z`` ``(N, proj_dim)``; a batch of two views stacks to ``(2N, ...)`` with view ``i`` and view
``i + N`` coming from the same image.

Augmentations use kornia (random parameters per image, drawn for a whole batch at once). The
t-SNE of held-out features uses openTSNE (Policar, Strazar & Zupan, J. Stat. Softw. 2024),
warm-started from the previous layout so clusters form smoothly rather than jump.

Modules: :mod:`.loss` (NT-Xent and the pair similarities of a batch), :mod:`.model` (the
encoder ``f`` and the projection head ``g``), :mod:`.augment` (the random views),
:mod:`.evaluation` (the few-label evaluation and nearest neighbours), :mod:`.train`
(:class:`SimCLRConfig`, the live map and probe, and the trainer).
"""

from core.representation.simclr.augment import *  # noqa: F403
from core.representation.simclr.evaluation import *  # noqa: F403
from core.representation.simclr.loss import *  # noqa: F403
from core.representation.simclr.model import *  # noqa: F403
from core.representation.simclr.train import *  # noqa: F403
