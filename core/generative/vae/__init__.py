"""Variational autoencoder (VAE) and its baseline, a plain (deterministic) autoencoder (AE).

A VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; Rezende et al., ICML 2014)
is an autoencoder whose encoder outputs a *distribution* over the latent code,
``q(z|x) = N(mu(x), diag(sigma(x)^2))``, and whose decoder defines a likelihood ``p(x|z)``.
Training maximises the evidence lower bound (ELBO) on ``log p(x)``::

    log p(x) >= ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))
    loss = recon + beta * kl,   recon = -E_q[log p(x|z)],   kl = KL(q(z|x) || N(0, I))

with the reparameterization trick ``z = mu + sigma * eps, eps ~ N(0, I)`` so that gradients flow
through the sampling. ``beta != 1`` gives the beta-VAE (Higgins et al., ICLR 2017); the reported
``neg_elbo`` always uses beta = 1 (it is the true bound). The likelihood is Bernoulli on the pixel
intensities (binary cross-entropy summed over pixels), as in the PyTorch examples' MNIST VAE, so
``neg_elbo`` is in nats per image and comparable with it.

The AE baseline has the same encoder and decoder but a deterministic code ``z = mu(x)`` and only
the reconstruction loss. It reconstructs better (nothing pulls its codes together), but its codes
do not fill N(0, I): decoding random N(0, I) vectors lands in the "holes" of its latent space.
The VAE's KL term makes N(0, I) a sensible place to sample from.

Your own images (``dataset="upload"``): a zip of PNG/JPEG files in any folders, unlabelled,
stored by :mod:`core.data.uploads` and named by the config's ``upload`` field, resized to 32x32
colour (the size of CIFAR-10, which the conv nets already model); a seeded fifth of them is held
out for the test -ELBO.

Shapes: images ``(N, C, H, W)`` in [0, 1] with ``H = W`` in {28, 32} for the convolutional nets
(any size for the MLP); codes ``z`` ``(N, latent_dim)``; decoder logits ``(N, C, H, W)``.

Modules: :mod:`.model` (:class:`VAE`, :class:`AE` and their conv / MLP nets), :mod:`.losses`
(the negative ELBO), :mod:`.evaluation` (held-out -ELBO and reconstruction, the "sure" share),
:mod:`.data` (datasets and your own images), :mod:`.artifacts` (what the page draws of a model),
:mod:`.train` (the ``vae`` and ``ae`` demos: configs and the trainer).
"""

from core.generative.vae.artifacts import *  # noqa: F403
from core.generative.vae.data import *  # noqa: F403
from core.generative.vae.evaluation import *  # noqa: F403
from core.generative.vae.losses import *  # noqa: F403
from core.generative.vae.model import *  # noqa: F403
from core.generative.vae.train import *  # noqa: F403
