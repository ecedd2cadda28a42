"""A small decoder-only Transformer (minGPT-style) learns algorithmic tasks while you watch.

Tasks (every sequence is ``prompt`` then ``answer``; the loss counts only the answer tokens):

* ``copy``     ``31415926=`` -> ``31415926``
* ``reverse``  ``31415926=`` -> ``62951413``
* ``sort``     ``31415926=`` -> ``11234569``
* ``add``      ``45+23=`` -> ``068`` (two-digit addition, as in minGPT's adder; the answer has
  three digits, written least-significant digit first when ``reverse_answer`` is on, as minGPT
  does: ``860``)
* ``addsub``   ``45+23=`` or ``23-45=`` -> ``068`` / ``-22`` (sign and two digits)

Model: token embedding + positional encoding (learned, sinusoidal or none) -> ``n_layers``
pre-norm blocks ``x = x + MHA(LN(x)); x = x + MLP(LN(x))`` -> LN -> linear head over the
vocabulary. Multi-head causal self-attention per head:
``softmax(Q K^T / sqrt(d_head) + mask) V``.

References: Vaswani et al., "Attention Is All You Need" (NeurIPS 2017) for attention and the
sinusoidal encoding; Radford et al., "Language Models are Unsupervised Multitask Learners"
(GPT-2, 2019) for the pre-norm decoder-only block; Karpathy, minGPT
(github.com/karpathy/minGPT, ``projects/adder``) for the addition task and the training set-up
(AdamW with betas (0.9, 0.95), weight decay on matrices only, gradient clipping at 1.0).

Shapes: token ids ``(B, T)`` int64; embeddings ``(B, T, d_model)``; attention weights
``(B, n_heads, T, T)`` (rows = query position, columns = key position, each row sums to 1);
logits ``(B, T, V)`` with ``V = len(VOCAB)``.

Modules: :mod:`.data` (the vocabulary, the tasks, the held-out split and training batches),
:mod:`.model` (:class:`GPT` and the positional encodings), :mod:`.evaluation` (the answer loss,
held-out metrics, greedy decoding), :mod:`.interactive` (the untrained preview and typed
questions), :mod:`.train` (:class:`TransformerConfig` and the trainer).
"""

from core.sequences.transformer.data import *  # noqa: F403
from core.sequences.transformer.evaluation import *  # noqa: F403
from core.sequences.transformer.interactive import *  # noqa: F403
from core.sequences.transformer.model import *  # noqa: F403
from core.sequences.transformer.train import *  # noqa: F403
