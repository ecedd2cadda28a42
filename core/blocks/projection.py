"""2-D maps of feature vectors that update smoothly while a model trains: t-SNE (openTSNE,
warm-started from the previous layout), PCA, or UMAP when installed.

Used by the SimCLR page's live feature map and the GNN page's node embeddings. No Streamlit here.
"""

from __future__ import annotations

import os

import numpy as np

from core.protocol import Diverged


def pca_2d(x: np.ndarray, *others: np.ndarray,
           ref_axes: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Project the rows of ``x`` (N, D), and of each of ``others`` (M, D), on the first two
    principal axes of ``x`` (centred on the mean of ``x``).

    For ``D <= 2`` the points are returned as they are (``D == 1`` gets a zero second column).
    An axis's sign is arbitrary, so to keep a live picture from mirroring between snapshots it
    is chosen to agree with ``ref_axes`` (the axes returned last time, (D, 2)) when given with
    the same shape, else so that each axis's largest loading is positive.

    Returns:
        ``([x_2d, *others_2d], axes)``: float64 arrays (N, 2), (M, 2) and the axes (D, 2).

    Raises:
        ValueError: if ``x`` is not 2-D.
        core.protocol.Diverged: if ``x`` is not finite or has no principal axes (the features
            of a diverging model): the engine reports it as a diverged run in one sentence.
    """
    x = np.asarray(x, dtype=np.float64)
    rest = [np.asarray(o, dtype=np.float64) for o in others]
    if x.ndim != 2:
        raise ValueError(f"x must be (N, D), got shape {x.shape}")
    d = x.shape[1]
    if d <= 2:
        def pad(a: np.ndarray) -> np.ndarray:
            return a if d == 2 else np.concatenate([a, np.zeros_like(a)], 1)
        return [pad(a) for a in (x, *rest)], np.eye(d, 2)
    mean = x.mean(0, keepdims=True)
    try:
        if not np.isfinite(x).all():
            raise np.linalg.LinAlgError("non-finite features")
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    except np.linalg.LinAlgError:
        raise Diverged("The model's features became too large or NaN to draw: training "
                       "diverged. Lower the learning rate and train again.") from None
    axes = vt[:2].T  # (D, 2)
    if ref_axes is not None and ref_axes.shape == axes.shape:
        axes = axes * np.where((axes * ref_axes).sum(0) < 0, -1.0, 1.0)
    else:
        axes = axes * np.sign(axes[np.abs(axes).argmax(0), np.arange(2)])
    return [(a - mean) @ axes for a in (x, *rest)], axes


class FeatureMap:
    """A 2-D map of features that updates smoothly during training.

    ``method="tsne"``: openTSNE with exact perplexity affinities on the current features and a
    Barnes-Hut optimisation of ``n_iter`` iterations that starts from the previous layout (the
    first call runs the usual early-exaggeration phase from a PCA initialisation). ``"pca"``:
    the top two principal components, signs aligned with the previous layout. ``"umap"``: UMAP
    initialised from the previous layout (only when ``umap-learn`` is installed; else t-SNE).

    Reference: van der Maaten & Hinton, JMLR 2008 (t-SNE); Policar et al. (openTSNE).
    """

    def __init__(self, method: str = "tsne", n_iter: int = 50, perplexity: float = 30.0,
                 seed: int = 0) -> None:
        if method not in ("tsne", "pca", "umap"):
            raise ValueError(f"unknown map {method!r}; allowed: tsne, pca, umap")
        self.note = None
        if method == "umap" and not umap_available():
            method = "tsne"
            self.note = "UMAP is not installed (pip install umap-learn); showing t-SNE instead."
        self.method = method
        self.n_iter = n_iter
        self.perplexity = perplexity
        self.seed = seed
        self.layout: np.ndarray | None = None
        self.axes: np.ndarray | None = None  # the last PCA axes (D, 2)
        self.updates = 0

    def update(self, features: np.ndarray) -> np.ndarray:
        """Embed ``features`` (n, D) into the plane; returns the layout (n, 2) float32.

        Raises:
            ValueError: if ``features`` is not 2-D with at least 3 rows or contains NaN/inf.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) < 3:
            raise ValueError(f"features must be (n >= 3, D), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or inf")
        if self.layout is not None and len(self.layout) != len(x):
            self.layout = None
        if self.method == "pca":
            self.layout = self._pca(x)
        elif self.method == "umap":
            self.layout = self._umap(x)
        else:
            self.layout = self._tsne(x)
        self.updates += 1
        return self.layout.astype(np.float32)

    def _pca(self, x: np.ndarray) -> np.ndarray:
        (y,), self.axes = pca_2d(x, ref_axes=self.axes)
        return y

    def _tsne(self, x: np.ndarray) -> np.ndarray:
        from openTSNE import TSNEEmbedding, initialization
        from openTSNE.affinity import PerplexityBasedNN

        perplexity = min(self.perplexity, (len(x) - 1) / 3.0)
        jobs = min(2, os.cpu_count() or 1)
        aff = PerplexityBasedNN(x, perplexity=perplexity, method="exact", n_jobs=jobs,
                                random_state=self.seed, verbose=False)
        if self.layout is None:
            init = initialization.pca(x, random_state=self.seed)
            emb = TSNEEmbedding(init, aff, negative_gradient_method="bh", n_jobs=jobs,
                                random_state=self.seed)
            emb = emb.optimize(n_iter=125, exaggeration=12, momentum=0.5)
            emb = emb.optimize(n_iter=125, momentum=0.8)
        else:
            # warm start: a coarser Barnes-Hut opening angle (theta 0.8 instead of 0.5) is
            # accurate enough for small steps from an already good layout, and faster
            emb = TSNEEmbedding(self.layout, aff, negative_gradient_method="bh", n_jobs=jobs,
                                random_state=self.seed, theta=0.8)
            emb = emb.optimize(n_iter=self.n_iter, momentum=0.8)
        return np.asarray(emb, dtype=np.float64)

    def _umap(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - optional dependency
        import umap

        init = self.layout if self.layout is not None else "spectral"
        red = umap.UMAP(n_neighbors=15, init=init, random_state=self.seed,
                        n_epochs=50 if self.layout is not None else 200)
        return red.fit_transform(x)


def umap_available() -> bool:
    """True when ``umap-learn`` can be imported."""
    try:
        import umap  # noqa: F401
    except Exception:
        return False
    return True
