"""Seq2seq arithmetic: an LSTM encoder-decoder learns two-digit addition and subtraction.

The question ``a op b`` (``a, b`` in 0..99, ``op`` in ``+ -``) is written as five symbols with
zero padding, ``"05+23"``; the answer as four symbols, a sign and three digits, ``"+028"``
(``23 - 45`` gives ``"-022"``). Three modalities share one encoder-decoder:

* ``text2text``: question tokens in, answer tokens out (cross-entropy).
* ``image2text``: the question is a row of five 28x28 images (real MNIST digits from
  ``core.data.load_images("mnist")`` and hand-drawn ``+``/``-`` strokes); a small CNN embeds each
  image before the encoder LSTM; answer tokens out.
* ``text2image``: question tokens in; the decoder *draws* each answer symbol as a 28x28 image,
  trained with a per-pixel binary cross-entropy against a random real image of the right symbol.
  Its best guess is the symbol's average image; a generated image is read back as the symbol
  whose average image is nearest (L2), which gives the exact-match score.

Model (Sutskever, Vinyals & Le, "Sequence to Sequence Learning with Neural Networks", NeurIPS
2014; Cho et al. 2014): a stacked LSTM encoder reads the question; its final ``(h, c)`` of every
layer initializes a stacked LSTM decoder, which is fed the previous answer symbol (the true one
with probability ``teacher_forcing`` during training: teacher forcing, Williams & Zipser 1989)
and predicts the next. The LSTM cells are :class:`core.blocks.recurrent.LSTMCell` (Hochreiter &
Schmidhuber 1997, with the forget gate of Gers et al. 2000), which can record their gates.

A fixed 10% of the questions of each operator is held out (the same set for every seed and
setting); ``exact_match`` is measured on those *unseen* questions, ``exact_match_seen`` on
questions from the training pool. Evaluation images come from the MNIST *test* split, so both
scores use digit images the model never saw.

Shapes: questions ``(N, 5)`` symbol ids; answers ``(N, 4)``; images ``(N, T, 1, 28, 28)`` in
[0, 1]; LSTM states ``(N, hidden)`` per layer.

Modules: :mod:`.data` (questions and answers as symbols, the held-out split, the symbol images),
:mod:`.model` (the encoder-decoder, its batches and loss), :mod:`.evaluation` (greedy answers,
exact match, a typed question, the preview), :mod:`.train` (demo ``seq2seq``: config and loop).
Every name in a module's ``__all__`` is importable from this package.
"""

from core.sequences.seq2seq.data import *  # noqa: F403
from core.sequences.seq2seq.evaluation import *  # noqa: F403
from core.sequences.seq2seq.model import *  # noqa: F403
from core.sequences.seq2seq.train import *  # noqa: F403
