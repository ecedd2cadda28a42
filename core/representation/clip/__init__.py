"""A tiny CLIP trained from scratch: images and captions meet in one embedding space.

An image encoder (a small CNN, :class:`core.blocks.convnet.ConvEncoder`, average-pooled) and a
text encoder (a small causal Transformer over caption tokens, the shared pre-LN
:class:`core.blocks.attention.Block`; its output at the ``<eos>`` token, as in CLIP) are each
followed by a linear projection to a shared space of ``proj_dim`` dimensions; both embeddings
are L2-normalised. A batch of ``B`` (image, caption) pairs gives the ``B x B`` cosine-similarity
matrix; scaled by a learnable ``exp(t) = 1 / temperature`` it is read as logits, row-wise
(image -> which caption) and column-wise (caption -> which image), and the loss is the mean of
the two cross-entropies (symmetric InfoNCE). Following the paper's pseudocode (Radford et al.,
"Learning Transferable Visual Models From Natural Language Supervision", ICML 2021, Fig. 3)::

    I_e = l2_normalize(image_encoder(I) @ W_i);  T_e = l2_normalize(text_encoder(T) @ W_t)
    logits = I_e @ T_e.T * exp(t)
    loss = (cross_entropy(logits, labels, axis=0) + cross_entropy(logits, labels, axis=1)) / 2

Three target choices (``loss``):

* ``identity`` — the paper: pair ``i`` is the only positive of row and column ``i``.
* ``soft`` — the targets of the popular "OpenAI CLIP simple implementation" tutorial
  (M. Shariatnia, 2021): ``softmax((I_e I_e^T + T_e T_e^T) / 2 * exp(t))`` computed from the
  model's own embeddings, gradients included.
* ``multi_positive`` — pairs whose captions are identical are all positives (targets spread
  evenly over them), so a caption repeated in a batch is not pushed away from its own kind.

Data (``data``, :mod:`.data`): 32x32 scenes of one coloured shape with captions such as
``a big red circle on the left``, four colour x shape compositions (:data:`HELD_OUT`) never in
training, zero-shot prompts ``a red circle``, ...; or 16x48 strips of one to three real MNIST
digits captioned ``three zero seven``, 100 3-digit sequences (:data:`HELD_OUT_STRIPS`) never in
training, zero-shot over the 1,000 3-digit captions and over ``zero`` ... ``nine``.

Optimisation: AdamW with a linear warm-up and a cosine decay (the paper's schedule).

Modules: :mod:`.data`, :mod:`.model` (the towers, the
loss, the collapse meter), :mod:`.zeroshot` (classification, retrieval, live evaluation),
:mod:`.train` (:class:`ClipConfig` and the trainer).

Shapes: images (B, 3, 32, 32) or (B, 1, 16, 48) in [0, 1]; tokens (B, MAX_WORDS + 2) int64
(``<bos> words <eos> <pad>...``); embeddings (B, proj_dim), unit norm; logits (B, B).
"""

from core.representation.clip.data import *  # noqa: F403
from core.representation.clip.model import *  # noqa: F403
from core.representation.clip.train import *  # noqa: F403
from core.representation.clip.zeroshot import *  # noqa: F403
