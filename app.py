"""Liveprop: every page trains a small PyTorch model live and shows what it learns.

Run with ``make run`` (or ``streamlit run app.py``).
"""

from ui.shell import build_navigation

build_navigation().run()
