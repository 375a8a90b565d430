"""Text normalisation shared by labels and queries, so that both sides of a match look alike.

`normalize` is symmetric (labels and queries go through it): Unicode NFKC, case folding,
programming-language names that punctuation would destroy (C++, C#, .NET, Node.js), punctuation
to spaces and British spellings to one canonical (American) form. `clean_query` is for the query
side only: it drops what credential titles add around the skill ("Introduction to", "Level 2",
"Professional Certificate", course codes). `AcronymMap` expands and collapses acronyms that the
taxonomy itself defines (a concept labelled both "AWS" and "Amazon Web Services").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

# Technology names whose punctuation carries the meaning; rewritten before punctuation is dropped.
_TECH_TOKENS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w+])c\+\+"), " cplusplus "),
    (re.compile(r"(?<!\w)c#"), " csharp "),
    (re.compile(r"(?<!\w)f#"), " fsharp "),
    (re.compile(r"(?<![\w.])\.net\b"), " dotnet "),
    (re.compile(r"asp\.net\b"), " aspdotnet "),
    (re.compile(r"\b([a-z0-9]+)\.js\b"), r" \1js "),
    (re.compile(r"&"), " and "),
    (re.compile(r"['’`´]"), ""),
    # Single letters hyphenated onto a word are one word: e-learning, t-sql, x-ray.
    (re.compile(r"\b([a-z])-(?=[a-z])"), r"\1"),
)
_NON_WORD = re.compile(r"[^\w]+|_")
_SPACES = re.compile(r"\s+")
_PARENTHETICAL = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")

# British -> American, whole words. Suffix rules below cover -ise/-isation/-yse/-lling.
_SPELLING: dict[str, str] = {
    "colour": "color",
    "colours": "colors",
    "behaviour": "behavior",
    "behaviours": "behaviors",
    "behavioural": "behavioral",
    "labour": "labor",
    "favour": "favor",
    "honour": "honor",
    "humour": "humor",
    "neighbour": "neighbor",
    "harbour": "harbor",
    "rumour": "rumor",
    "flavour": "flavor",
    "vapour": "vapor",
    "endeavour": "endeavor",
    "odour": "odor",
    "armour": "armor",
    "tumour": "tumor",
    "tumours": "tumors",
    "vigour": "vigor",
    "rigour": "rigor",
    "centre": "center",
    "centres": "centers",
    "metre": "meter",
    "metres": "meters",
    "litre": "liter",
    "litres": "liters",
    "theatre": "theater",
    "fibre": "fiber",
    "fibres": "fibers",
    "calibre": "caliber",
    "catalogue": "catalog",
    "catalogues": "catalogs",
    "dialogue": "dialog",
    "analogue": "analog",
    "licence": "license",
    "licences": "licenses",
    "defence": "defense",
    "offence": "offense",
    "pretence": "pretense",
    "programme": "program",
    "programmes": "programs",
    "ageing": "aging",
    "judgement": "judgment",
    "enrol": "enroll",
    "enrolment": "enrollment",
    "fulfil": "fulfill",
    "fulfilment": "fulfillment",
    "skilful": "skillful",
    "practise": "practice",
    "practised": "practiced",
    "practising": "practicing",
    "grey": "gray",
    "cheque": "check",
    "cheques": "checks",
    "aluminium": "aluminum",
    "sceptical": "skeptical",
    "mould": "mold",
    "moulding": "molding",
    "plough": "plow",
    "manoeuvre": "maneuver",
    "tyre": "tire",
    "tyres": "tires",
    "draught": "draft",
    "oedema": "edema",
    "aeroplane": "airplane",
    "storey": "story",
    "jewellery": "jewelry",
    "kerb": "curb",
    "learnt": "learned",
    "maths": "math",
}
# Medical spellings: paediatric, anaesthesia, haematology, gynaecology, oesophagus, foetal.
_MEDICAL_PREFIXES = {
    "paed": "ped",
    "anaes": "anes",
    "haem": "hem",
    "gynaec": "gynec",
    "oesoph": "esoph",
    "oestr": "estr",
    "foet": "fet",
    "orthopaed": "orthoped",
    "leukaem": "leukem",
    "caesar": "cesar",
    "aetiol": "etiol",
}
_MEDICAL_WORD = re.compile("^(" + "|".join(sorted(_MEDICAL_PREFIXES, key=len, reverse=True)) + ")")
# -ise words that are not the British form of an -ize word.
_ISE_KEEP_WORDS = (
    "advise advised advises advising advertise advertised advertising advertisement chastise"
    " comprise comprised comprises comprising compromise compromised compromises demise"
    " despise devise devised devising disguise enterprise enterprises excise exercise exercised"
    " exercises exercising expertise franchise franchises franchising improvise improvised"
    " incise merchandise merchandising noise poise praise precise premise premises promise"
    " promised promises raise raised raises raising revise revised revising rise rises supervise"
    " supervised supervises supervising supervisor supervisors surmise surprise surprised"
    " televise treatise wise otherwise concise cruise arise arising likewise clockwise"
    " appraise appraisal appraisals paradise anise mortise reprise"
)
_ISE_KEEP = frozenset(_ISE_KEEP_WORDS.split())
_ISE = re.compile(r"^(\w{3,}?)is(e|es|ed|ing|er|ers|ation|ations|ational)$")
_YSE = re.compile(r"^(ana|para|cata|dia|electro|hydro)ly(s|z)(e|es|ed|ing|er|ers)$")
_DOUBLE_L = re.compile(
    r"^(model|label|travel|cancel|counsel|fuel|signal|level|channel|tunnel|funnel|marshal"
    r"|total|dial|equal|jewel|libel|marvel|pedal|rival|shovel|snorkel|tranquil)l(ing|ed|er|ers|or|ors)$"
)

_FILLER_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"^(an |a )?(introduction|intro|introductory course) (to|into|in|on) ",
        r"^(the )?(fundamentals|foundations|basics|essentials|principles|elements) (of|in) ",
        r"^(getting started|get started|beginning|beginners guide|a beginners guide)"
        r" (with|to|in) ",
        r"^(foundation|foundations) (in|of) ",
        r"\b(professional|graduate|postgraduate|undergraduate|advanced|career|skills?)"
        r" (certificate|certification|diploma|award)\b",
        r"\b(certificate|certification|diploma|award|course|training|badge) (in|of|on|for) ",
        r"\b(certified|certificate|certification|certifications|credential|micro ?credential"
        r"|microcredential|nanodegree|mooc|bootcamp|badge|diploma)\b",
        r"\b(specialization|track|learning path|course|module|unit|part|lesson)"
        r"( [0-9ivx]+)?$",
        r"\b(level|lvl|tier|stage|grade|part|module|unit|week|year|step)"
        r" ?([0-9]+|i{1,3}|iv|v|vi{1,3})\b",
        r"\b(for|to) (everybody|everyone|beginners|dummies|all|professionals|managers)\b",
        r"\b(fundamentals|basics|essentials|foundations|overview|introduction|masterclass"
        r"|crash course|in practice|made easy|explained|primer)$",
        r"\b(associate|professional|practitioner|specialty|expert|foundational|beginner"
        r"|intermediate)$",
        r"\b[a-z]{2,4} ?[0-9]{3,4}[a-z]?\b",
        r"\b(19|20)[0-9]{2}\b",
        r"\b[0-9]{3}\b",
        r"\bv ?[0-9]+\b",
    )
)
_EDGE_WORDS = frozenset({"and", "or", "of", "in", "on", "for", "with", "to", "the", "a", "an"})


@lru_cache(maxsize=65536)
def canonical_word(word: str) -> str:
    """One word in its canonical (American) spelling; non-words pass through."""
    if len(word) < 4 or not word.isalpha():
        return word
    mapped = _SPELLING.get(word)
    if mapped is not None:
        return mapped
    medical = _MEDICAL_WORD.match(word)
    if medical is not None:
        return _MEDICAL_PREFIXES[medical.group(1)] + word[medical.end() :]
    if word not in _ISE_KEEP:
        ise = _ISE.match(word)
        if ise is not None:
            return f"{ise.group(1)}iz{ise.group(2)}"
    yse = _YSE.match(word)
    if yse is not None:
        return f"{yse.group(1)}lyz{yse.group(3)}"
    double = _DOUBLE_L.match(word)
    if double is not None:
        return double.group(1) + double.group(2)
    return word


def strip_parentheticals(text: str) -> str:
    """'Python (computer programming)' -> 'Python'; text that is only a parenthetical is kept."""
    stripped = _PARENTHETICAL.sub("", text).strip()
    return stripped or text


@lru_cache(maxsize=262144)
def normalize(text: str) -> str:
    """Canonical form of a phrase: lower case, no punctuation, one spelling per word."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    for pattern, replacement in _TECH_TOKENS:
        folded = pattern.sub(replacement, folded)
    words = _NON_WORD.sub(" ", folded).split()
    return " ".join(canonical_word(word) for word in words)


def clean_query(text: str) -> str:
    """Normalised query without course-title filler (the plain form if nothing else is left)."""
    plain = normalize(strip_parentheticals(text))
    cleaned = plain
    for pattern in _FILLER_PATTERNS:
        cleaned = _SPACES.sub(" ", pattern.sub(" ", cleaned)).strip()
    words = cleaned.split()
    while words and words[0] in _EDGE_WORDS:
        words.pop(0)
    while words and words[-1] in _EDGE_WORDS:
        words.pop()
    return " ".join(words) or plain


def is_acronym(label: str) -> bool:
    """A label written as an acronym in its source: 2-6 capitals/digits, e.g. SQL, AWS, ICD10."""
    compact = label.strip()
    return (
        2 <= len(compact) <= 6
        and compact.isalnum()
        and compact[0].isalpha()
        and compact.upper() == compact
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class AcronymMap:
    """Acronyms the taxonomy itself pairs with their long forms (both normalised)."""

    expansions: dict[str, str] = field(default_factory=dict)
    contractions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_label_sets(cls, label_sets: Iterable[Iterable[str]]) -> AcronymMap:
        """Pair an acronym label with a sibling label whose word initials spell it.

        An acronym that two concepts expand differently is ambiguous and left out.
        """
        expansions: dict[str, str] = {}
        ambiguous: set[str] = set()
        for labels in label_sets:
            raw = list(labels)
            acronyms = [normalize(label) for label in raw if is_acronym(label)]
            if not acronyms:
                continue
            long_forms = [normalize(strip_parentheticals(label)) for label in raw]
            for acronym in acronyms:
                for long_form in long_forms:
                    words = [w for w in long_form.split() if w not in _EDGE_WORDS]
                    if len(words) >= 2 and "".join(w[0] for w in words) == acronym:
                        previous = expansions.get(acronym)
                        if previous is not None and previous != long_form:
                            ambiguous.add(acronym)
                        expansions[acronym] = long_form
                        break
        for acronym in ambiguous:
            expansions.pop(acronym, None)
        contractions = {long: short for short, long in expansions.items()}
        return cls(expansions=expansions, contractions=contractions)

    def variants(self, normalized_query: str) -> list[str]:
        """The query with acronyms expanded and long forms collapsed (each at most once)."""
        found: list[str] = []
        words = normalized_query.split()
        expanded = [self.expansions.get(word, word) for word in words]
        if expanded != words:
            found.append(" ".join(expanded))
        padded = f" {normalized_query} "
        collapsed = padded
        for long_form, short in self.contractions.items():
            if f" {long_form} " in collapsed:
                collapsed = collapsed.replace(f" {long_form} ", f" {short} ")
        if collapsed != padded:
            found.append(collapsed.strip())
        return found
