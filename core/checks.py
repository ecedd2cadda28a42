"""Argument checks shared by every part of ``core``: one message for one kind of mistake."""

from __future__ import annotations

from collections.abc import Sequence


def check_choice(what: str, value: object, allowed: Sequence[object]) -> None:
    """Refuse a value that is not one of ``allowed``, with the message every "which one?"
    argument gives: ``unknown loss 'l3'; allowed: bce, dice, mix``.

    Raises:
        ValueError: when ``value`` is not in ``allowed``.
    """
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(map(str, allowed))}")
