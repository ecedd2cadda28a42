"""The catalogue of pages: section, URL path, title, icon, one-line description.

``app.py`` builds the navigation from this list and shows only the pages whose file exists, so a
page appears in the app as soon as its file lands. A page's file is
``pages/<section dir>/<url_path>.py`` (:data:`SECTION_DIRS`); other code names a page by its URL
path through :func:`page`, never by its file. The home page shows each page's line and the
thumbnail ``assets/thumbs/<url_path>.png`` when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PageInfo:
    section: str
    file: str
    url_path: str
    title: str
    icon: str
    blurb: str

    @property
    def exists(self) -> bool:
        return (ROOT / self.file).exists()

    @property
    def thumbnail(self) -> Path | None:
        p = ROOT / "assets" / "thumbs" / f"{self.url_path}.png"
        return p if p.exists() else None


SECTIONS = ["Foundations", "Vision", "Generative", "Sequences", "Representation learning",
            "Graphs", "Reinforcement learning"]
# the folder of each section under pages/, core/, tests/ and bench/
SECTION_DIRS = {"Foundations": "foundations", "Vision": "vision", "Generative": "generative",
                "Sequences": "sequences", "Representation learning": "representation",
                "Graphs": "graphs", "Reinforcement learning": "rl"}

PAGES = [
    PageInfo("Foundations", "pages/foundations/playground.py", "playground", "MLP playground",
             ":material/scatter_plot:",
             "A neural network learns 2-D decision boundaries; watch every neuron while it trains."),
    PageInfo("Foundations", "pages/foundations/tensors.py", "tensors", "Tensors",
             ":material/view_in_ar:",
             "Broadcasting, views and strides, the silent-broadcast loss bug, matmul throughput."),
    PageInfo("Foundations", "pages/foundations/autograd.py", "autograd", "Autograd",
             ":material/account_tree:",
             "Type an expression, watch the graph run forward and backward; nn.Module from scratch."),
    PageInfo("Foundations", "pages/foundations/optimizers.py", "optimizers", "Optimizers",
             ":material/landscape:",
             "SGD, momentum, RMSprop and Adam race on loss surfaces; the learning-rate finder."),
    PageInfo("Foundations", "pages/foundations/dataloader.py", "dataloader", "Dataset & DataLoader",
             ":material/conveyor_belt:",
             "Batches, samplers, collate and workers on a timeline; the worker-seeding bug."),
    PageInfo("Vision", "pages/vision/cnn.py", "cnn", "Convolutional networks", ":material/filter:",
             "A CNN trains live: shapes, filters, feature maps, the formula of one unit, Grad-CAM."),
    PageInfo("Vision", "pages/vision/gumbel.py", "gumbel", "Gumbel-softmax", ":material/casino:",
             "Sampling categories with gradients: Gumbel-max, the relaxation, straight-through."),
    PageInfo("Vision", "pages/vision/vit.py", "vit", "ViT vs CNN", ":material/grid_view:",
             "A Vision Transformer against a CNN on the same small data; attention rollout."),
    PageInfo("Vision", "pages/vision/segmentation.py", "segmentation", "Segmentation",
             ":material/texture:",
             "A U-Net with switchable skips against a decoder on CLIP features."),
    PageInfo("Generative", "pages/generative/gan.py", "gan", "GAN", ":material/auto_awesome:",
             "A DCGAN learns to draw digits; latent walks and a mode-collapse lab."),
    PageInfo("Generative", "pages/generative/vae.py", "vae", "VAE", ":material/blur_on:",
             "A variational autoencoder's latent space, next to a plain autoencoder's."),
    PageInfo("Generative", "pages/generative/gan-vae-ae.py", "gan-vae-ae", "GAN vs VAE vs autoencoder",
             ":material/compare:",
             "Three generative models, same data and budget: which generates, which memorises."),
    PageInfo("Sequences", "pages/sequences/transformer.py", "transformer", "Transformer attention",
             ":material/grid_on:",
             "Self-attention heatmaps form while a Transformer learns to reverse, sort and add."),
    PageInfo("Sequences", "pages/sequences/captioning.py", "captioning", "Image captioning",
             ":material/subtitles:",
             "Vanilla RNN vs LSTM vs Transformer decoders caption images; attention per word."),
    PageInfo("Sequences", "pages/sequences/seq2seq.py", "seq2seq", "Seq2seq arithmetic",
             ":material/calculate:",
             "An LSTM encoder-decoder does arithmetic from text, images of digits, or to images."),
    PageInfo("Sequences", "pages/sequences/forecasting.py", "forecasting", "Forecasting",
             ":material/show_chart:",
             "RNN, LSTM and GRU forecast real series; vanishing gradients made visible."),
    PageInfo("Representation learning", "pages/representation/simclr.py", "simclr", "SimCLR",
             ":material/hub:",
             "Contrastive self-supervised learning: t-SNE of features and a few-label probe."),
    PageInfo("Representation learning", "pages/representation/clip.py", "clip", "CLIP",
             ":material/join_inner:",
             "Images and captions in one space: a tiny CLIP trained live, zero-shot from words."),
    PageInfo("Graphs", "pages/graphs/gnn.py", "gnn", "Graph neural networks", ":material/share:",
             "GCN, GraphSAGE and GAT classify nodes; embeddings move live on the graph."),
    PageInfo("Reinforcement learning", "pages/rl/gridworld.py", "gridworld", "Grid-world Q-learning",
             ":material/apps:", "Tabular Q-learning and SARSA against value iteration."),
    PageInfo("Reinforcement learning", "pages/rl/dqn.py", "dqn", "DQN on CartPole",
             ":material/sports_esports:",
             "Deep Q-learning balances a pole; ablate replay and the target network."),
    PageInfo("Reinforcement learning", "pages/rl/decision-transformer.py", "decision-transformer",
             "Decision Transformer", ":material/route:",
             "RL as sequence modelling: condition on the return you want."),
]


def page(url_path: str) -> PageInfo:
    """The catalogue entry of the page at ``/<url_path>``.

    Raises:
        KeyError: when no page has that URL path.
    """
    for p in PAGES:
        if p.url_path == url_path:
            return p
    raise KeyError(f"no page at /{url_path}; known: {', '.join(p.url_path for p in PAGES)}")


def existing_pages() -> list[PageInfo]:
    """The pages whose file exists, in catalogue order."""
    return [p for p in PAGES if p.exists]
