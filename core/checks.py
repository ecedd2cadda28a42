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


class UnknownWords(ValueError):
    """Typed text with words outside a model's vocabulary."""


def check_words(words: Sequence[str], known: Sequence[str]) -> None:
    """Refuse typed ``words`` that are not all in ``known`` (never evaluated): one sentence
    naming the unknown ones and listing the known ones.

    Raises:
        UnknownWords: when a word is not in ``known``.
    """
    vocabulary = set(known)
    unknown = sorted({w for w in words if w not in vocabulary})
    if unknown:
        raise UnknownWords(f"the model never saw the word(s) {', '.join(unknown)}; it knows "
                           f"only: {', '.join(known)}")
