"""Liveprop core: models, data and training loops in plain PyTorch (no Streamlit).

Every demo is a trainer following the protocol in :mod:`core.live`; :mod:`core.registry` finds
them all, and ``python -m core`` trains any of them headless.
"""
