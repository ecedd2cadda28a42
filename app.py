"""Liveprop: every page trains a small PyTorch model live and shows what it learns.

Run with ``make run`` (or ``streamlit run app.py``).
"""

import streamlit as st

from ui.pages import SECTIONS, existing_pages

st.set_page_config(page_title="Liveprop", page_icon=":material/model_training:", layout="wide")


def home() -> None:
    st.title("Liveprop")
    st.markdown(
        "Every page here trains a small PyTorch model **live**, in your browser session, and "
        "shows what it learns while it learns. Pick a page, press **Train**, move a slider, "
        "train again and compare. Every experiment also runs headless: "
        "`python -m core train DEMO --set key=value`.")
    for section in SECTIONS:
        pages = [p for p in existing_pages() if p.section == section]
        if not pages:
            continue
        st.subheader(section)
        cols = st.columns(3)
        for i, p in enumerate(pages):
            with cols[i % 3].container(border=True):
                if p.thumbnail is not None:
                    st.image(str(p.thumbnail), width="stretch")
                st.page_link(p.file, label=p.title, icon=p.icon)
                st.caption(p.blurb)


nav: dict[str, list] = {"": [st.Page(home, title="Home", icon=":material/home:", default=True,
                                    url_path="home")]}
for section in SECTIONS:
    pages = [st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path)
             for p in existing_pages() if p.section == section]
    if pages:
        nav[section] = pages
st.navigation(nav, expanded=True).run()
