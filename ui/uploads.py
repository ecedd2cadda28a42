"""The image-zip uploader of the pages that train on your own images (``/cnn``, ``/gan``,
``/vae``): one call draws it, checks the zip once per file (not on every rerun), stores the
images for the run's worker and returns their id for the config's ``upload`` field
(:mod:`core.data.uploads`). A refused file gets one sentence; the page and its runs are kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from core.data.uploads import LIMITS, UploadError, read_image_zip, store_upload
from ui.charts import plain

T = TypeVar("T")


def image_zip_uploader(page: str, size: int, channels: int = 1, by_folder: bool = True,
                       label: str | None = None) -> tuple[str, str]:
    """Draw the uploader; returns ``(upload id, summary)``, or ``("", "")`` without a usable
    upload. ``size``: the side the images are resized to; ``channels``: 1 (grey) or 3 (colour);
    ``by_folder``: classes from the folders (a classifier) or one unlabelled set."""
    what = "one folder per class" if by_folder else "any folders"
    up = st.file_uploader(
        label or f"A zip of PNG/JPEG images ({what}; at most {LIMITS['max_zip_mb']} MB, "
                 f"{LIMITS['max_files']:,} images)", type=["zip"], key=f"{page}.image_zip")
    if up is None:
        return "", ""
    done = st.session_state.get(f"_liveprop_zip.{page}")
    if done is not None and done[0] == (up.file_id, size, channels, by_folder):
        result = done[1]
    else:  # checked and decoded once per uploaded file
        try:
            data = read_image_zip(up.getvalue(), size=size, channels=channels,
                                  by_folder=by_folder)
            upload_id = store_upload(data)
            counts = data.y.bincount(minlength=len(data.classes)).tolist()
            summary = (f"{len(data)} images, {len(data.classes)} classes (" + ", ".join(
                f"{c}: {n}" for c, n in zip(data.classes, counts)) + ")") if by_folder else \
                f"{len(data)} images"
            result = ("ok", upload_id, summary)
        except UploadError as e:
            result = ("error", "", str(e))
        except OSError as e:
            result = ("error", "", f"The images could not be stored on the server ({e}).")
        st.session_state[f"_liveprop_zip.{page}"] = ((up.file_id, size, channels, by_folder),
                                                     result)
    if result[0] == "error":
        st.error(plain(result[2]), icon=":material/block:")
        return "", ""
    st.caption(plain(f"Your images: {result[2]}, resized to {size}x{size}. They stay in this "
                     "session: runs on them are not shared with others."))
    return result[1], result[2]


def ask_for_upload(size: int, by_folder: bool = True, at_least: int = 0) -> None:
    """The sentence a page shows in place of its data preview until a zip is uploaded."""
    layout = ("one folder per class (e.g. cats/001.jpg, dogs/002.jpg)" if by_folder
              else "in any folders")
    least = f", at least {at_least}" if at_least else ""
    st.info(f"Upload a zip of your images in the sidebar: PNG or JPEG {layout}{least}; they are "
            f"resized to {size}x{size} colour.", icon=":material/upload:")


def upload_preview(dataset: str, upload: str, load: Callable[..., T], *args: Any,
                   size: int, by_folder: bool = True, at_least: int = 0) -> T | None:
    """A page's data preview ``load(*args)``, or None after saying why there is none: no zip
    uploaded yet for ``dataset == "upload"`` (:func:`ask_for_upload`), or an unusable one (its
    :class:`UploadError` as one sentence)."""
    if dataset == "upload" and not upload:
        ask_for_upload(size, by_folder=by_folder, at_least=at_least)
        return None
    try:
        return load(*args)
    except UploadError as e:
        st.error(plain(e), icon=":material/block:")
        return None
