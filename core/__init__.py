"""Liveprop core: models, data and training loops in plain PyTorch (no Streamlit).

* :mod:`core.protocol`: the trainer protocol (configs, snapshots, trainer helpers);
  :mod:`core.engine`: runs trainers in the background and caches finished runs;
  :mod:`core.registry`: finds every demo; ``python -m core`` trains any of them headless.
* :mod:`core.blocks`: shared building blocks (attention, recurrent cells, images, projections);
  :mod:`core.data`: every dataset; :mod:`core.handoff`: what one page hands another.
* One package per catalogue section (``foundations``, ``generative``, ``sequences``,
  ``representation``, ``graphs``, ``rl``), one module per topic. No topic imports another.
"""
