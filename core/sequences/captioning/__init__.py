"""Image captioning: one CNN encoder, three decoders (vanilla RNN, LSTM, Transformer) side by side.

Every decoder gets its own copy of the same small CNN encoder (identical initial weights), the
same mini-batches, the same optimizer and the same number of steps, so their loss curves, BLEU-4
and exact match compare the decoders and nothing else.

* Encoder: ``images (B, C, H, W) -> regions V (B, R, D)``, a grid of ``R = rows * cols`` region
  features (three 3x3 conv blocks, then adaptive average pooling to the grid).
* Vanilla RNN and LSTM ("Show and Tell", Vinyals et al., CVPR 2015): the image only sets the
  initial state, ``h_0 = tanh(W_init vec(V))``; every later word must be carried through the
  recurrence, which is where the vanilla RNN's gradient vanishes (Bengio et al., 1994;
  Hochreiter & Schmidhuber, 1997 for the LSTM).
* Transformer decoder (Vaswani et al., NeurIPS 2017): pre-norm blocks of causal self-attention,
  cross-attention over the regions and an MLP; it looks at the image at every word, and its
  cross-attention weights show where.

Training is teacher forcing: the decoder reads the true previous words ``<bos> w_1 .. w_{n}`` and
is trained with cross-entropy to predict ``w_1 .. w_n <eos>``. Decoding is greedy or beam search.
Held-out quality is corpus BLEU-4 (Papineni et al., ACL 2002) and exact match.

Shapes: B batch, T caption positions (words + 2), V vocabulary size, R regions, D features.

Modules: :mod:`.data` (the fixed splits), :mod:`.model` (the encoder, the three decoders, the
loss), :mod:`.decoding` (greedy and beam search, cross-attention and its overlay),
:mod:`.evaluation` (BLEU-4, exact match, gradient through time), :mod:`.scene` (caption a
composed scene), :mod:`.train` (demo ``captioning``: config and loop). Every name in a module's
``__all__`` is importable from this package.
"""

from core.sequences.captioning.data import *  # noqa: F403
from core.sequences.captioning.decoding import *  # noqa: F403
from core.sequences.captioning.evaluation import *  # noqa: F403
from core.sequences.captioning.model import *  # noqa: F403
from core.sequences.captioning.scene import *  # noqa: F403
from core.sequences.captioning.train import *  # noqa: F403
