"""Words to index keys: stopwords, a light suffix stemmer, and the label forms worth indexing."""

from __future__ import annotations

from functools import lru_cache

from taxonomies.normalize import normalize, strip_parentheticals

_STOPWORDS_TEXT = (
    "a an and are as at be by for from in into is it its of on or the to with within without"
    " using use via your their this that these those"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_SUFFIXES = (
    "izations",
    "ization",
    "ations",
    "ation",
    "ments",
    "ment",
    "ings",
    "ing",
    "ers",
    "er",
    "ies",
    "ied",
    "ed",
    "s",
)
_COMPACT_MAX_CHARS = 12


@lru_cache(maxsize=131072)
def stem(word: str) -> str:
    """Crude suffix stripping so that nurse/nursing, test/testing/tester share one key.

    It errs towards merging: both labels and queries pass through it, and the rescoring stage
    compares the real strings, so an over-eager merge costs a candidate slot, not a wrong answer.
    """
    if len(word) < 5 or not word.isalpha():
        return word
    for _ in range(2):
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                if suffix == "s" and word.endswith(("ss", "us", "is")):
                    break
                word = word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
                break
        else:
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def words_to_keys(words: list[str]) -> list[str]:
    """Index keys of a normalised phrase, in order, stopwords dropped."""
    return [stem(word) for word in words if word not in STOPWORDS]


def label_variants(raw: str) -> list[tuple[str, bool]]:
    """(normalised text, is_short_form) pairs to index for one label.

    The short forms are the label without its parenthetical ("Java (computer programming)" is
    also found as "java") and short two-word labels written as one word ("scrum master" as
    "scrummaster", "power bi" as "powerbi"), because credential titles spell them either way.
    """
    full = normalize(raw)
    if not full:
        return []
    found = [(full, False)]
    short = normalize(strip_parentheticals(raw))
    if short and short != full:
        found.append((short, True))
    for text in (full, short):
        words = text.split()
        if len(words) == 2 and len(text) <= _COMPACT_MAX_CHARS:
            compact = "".join(words)
            if all(compact != existing for existing, _ in found):
                found.append((compact, True))
    return found
