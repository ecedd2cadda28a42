"""GANs trained live: a DCGAN on 28x28 (or 32x32x3) images and a 2-D mode-collapse lab.

The DCGAN also trains on your own images (``dataset="upload"``): a zip of PNG/JPEG files in any
folders, unlabelled, stored by :mod:`core.data.uploads` and named by the config's ``upload``
field; they are resized to 32x32 colour (like CIFAR-10) and all of them train the GAN.

Two demos:

* ``gan`` — a DCGAN (Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
  Convolutional Generative Adversarial Networks", ICLR 2016): a transposed-convolution generator
  ``G(z)`` with batch norm after every layer but the last (tanh output), and a strided-conv
  discriminator ``D(x)`` with LeakyReLU(0.2) and batch norm after every layer but the first and
  the last. Images are scaled to [-1, 1] for training and back to [0, 1] for display.
* ``gan2d`` — the same game on 2-D points drawn from a ring of 8 Gaussians or a 5x5 grid of 25,
  with MLPs for G and D (the toy problem of Metz et al., "Unrolled Generative Adversarial
  Networks", ICLR 2017). The page shows real vs generated points, D's decision surface and how the
  generated points move; the metric counts *modes covered* and the share of *high-quality*
  samples (within 3 standard deviations of the nearest mode), as in Unrolled GAN and
  Srivastava et al., "VEEGAN", NeurIPS 2017.

Losses (``D`` outputs a logit ``d``; ``sigma`` is the logistic sigmoid):

* ``minimax`` (Goodfellow et al. 2014): ``L_D = -log sigma(d_real) - log(1 - sigma(d_fake))``,
  ``L_G = log(1 - sigma(d_fake))`` (saturates when D wins: G's gradient vanishes).
* ``nonsaturating`` (same paper): same ``L_D``, ``L_G = -log sigma(d_fake)``.
* ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): ``L_D = relu(1 - d_real) + relu(1 + d_fake)``,
  ``L_G = -d_fake``.
* ``wgan-gp`` (Gulrajani et al., "Improved Training of Wasserstein GANs", 2017):
  ``L_D = d_fake - d_real + 10 (||grad_x D(x_hat)|| - 1)^2`` on random interpolates ``x_hat``,
  ``L_G = -d_fake``; the critic then has no batch norm (the paper's advice).

One-sided label smoothing (Salimans et al., "Improved Techniques for Training GANs", 2016)
replaces the real target 1 by ``1 - label_smoothing`` in the two cross-entropy losses.
The sample grid and the quality metric use an exponential moving average of G's weights when
``ema > 0`` (Yazıcı et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019),
with the decay warmed up as ``min(ema, (1 + t) / (10 + t))`` so early samples are not stale.

Shapes: ``z`` is ``(N, latent_dim)`` ~ N(0, I); images ``(N, C, H, W)``; 2-D points ``(N, 2)``.

Modules: :mod:`.model` (:class:`Generator`, :class:`Discriminator`, the 2-D MLPs, the weight
average), :mod:`.losses` (the four losses, the gradient penalty, DiffAugment), :mod:`.steps` (one
D and G update, shared by both demos), :mod:`.sampling` (samples and latent walks), :mod:`.data`
(datasets and your own images), :mod:`.metrics` (classifier-FID and the "sure" share),
:mod:`.dcgan` (the ``gan`` demo: config and trainer), :mod:`.mixtures` (the 2-D targets and the
mode metrics), :mod:`.gan2d` (the ``gan2d`` demo: config and trainer).
"""

from core.generative.gan.data import *  # noqa: F403
from core.generative.gan.dcgan import *  # noqa: F403
from core.generative.gan.gan2d import *  # noqa: F403
from core.generative.gan.losses import *  # noqa: F403
from core.generative.gan.metrics import *  # noqa: F403
from core.generative.gan.mixtures import *  # noqa: F403
from core.generative.gan.model import *  # noqa: F403
from core.generative.gan.sampling import *  # noqa: F403
from core.generative.gan.steps import *  # noqa: F403
