"""Optimizers on loss surfaces: a race on 2-D test functions, Distill's quadratic analysis, a
fair learning-rate sweep, the learning-rate range test and a loss-landscape slice on MNIST.

Every update is a real ``torch.optim`` step (SGD, SGD with momentum, Nesterov, RMSprop, Adagrad,
Adam, AdamW); nothing is animated by hand.

Modules: :mod:`.optim` (the optimizers by name), :mod:`.surfaces` (the 2-D test functions),
:mod:`.quadratic` (Distill's rates), :mod:`.mnist` (the MNIST task); one per demo:
:mod:`.race`, :mod:`.sweep`, :mod:`.lr_finder`, :mod:`.landscape`.

References:
    Goh, "Why Momentum Really Works", Distill (2017): on ``f(w) = ½ wᵀAw`` gradient descent
    converges iff ``0 < α < 2/λ_max``; its best rate ``(κ-1)/(κ+1)`` needs ``α = 2/(λ_min+λ_max)``;
    heavy-ball momentum reaches ``(√κ-1)/(√κ+1)`` with ``α = (2/(√λ_min+√λ_max))²`` and
    ``β = ((√κ-1)/(√κ+1))²``. torch's SGD momentum (``v ← βv + g; w ← w - αv``) is exactly the
    article's ``z ← βz + ∇f; w ← w - αz``.
    Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017 (the range test);
    fastai's ``Learner.lr_find`` (1e-7 to 10, 100 steps, smoothed loss with β = 0.98, stop when
    it exceeds 4x its minimum; suggestion rules ``valley``, ``slide``, ``minimum``, ``steep``).
    Li, Xu, Taylor, Studer & Goldstein, "Visualizing the Loss Landscape of Neural Nets",
    NeurIPS 2018 (filter-normalised random directions).
    Kingma & Ba, "Adam", ICLR 2015; Loshchilov & Hutter, "Decoupled Weight Decay
    Regularization" (AdamW), ICLR 2019; Duchi et al. (Adagrad), JMLR 2011; Tieleman & Hinton
    (RMSprop), 2012; Sutskever et al. (Nesterov momentum in deep learning), ICML 2013.

Shapes: a point on a surface is ``(..., 2)``; paths are ``(T + 1, 2)`` per optimizer; the sweep
optimises ``(n_lrs, n_starts, 2)`` points at once (every update is elementwise, so the rows are
independent runs).
"""

from core.foundations.optimizers.landscape import *  # noqa: F403
from core.foundations.optimizers.lr_finder import *  # noqa: F403
from core.foundations.optimizers.mnist import *  # noqa: F403
from core.foundations.optimizers.optim import *  # noqa: F403
from core.foundations.optimizers.quadratic import *  # noqa: F403
from core.foundations.optimizers.race import *  # noqa: F403
from core.foundations.optimizers.surfaces import *  # noqa: F403
from core.foundations.optimizers.sweep import *  # noqa: F403
