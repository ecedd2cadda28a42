"""Shared Streamlit helpers: the run panel (:mod:`ui.live`) and charts (:mod:`ui.charts`)."""
