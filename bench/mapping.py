"""Mapping accuracy and speed on the public validation splits, against a plain rapidfuzz baseline.

    .venv/bin/python bench/mapping.py [--no-semantic] [--titles-limit N] [--calibrate]

Span sets (TECH, HOUSE): each distinct (sentence, span) with at least one real ESCO label is one
query; the gold set is every label given to it. Titles (JobBERT): each vacancy title is one query
with one ESCO occupation. Titles are ranked twice: as a new employer sees it (no earlier choices)
and, as "learned", with the occupations employers chose for the other half of the file as
earlier choices (two folds, split by a seeded shuffle; a title is never ranked with its own
label among the choices). Figures: top-1 accuracy, R-Precision@5 (|gold ∩ top5| / min(5, |gold|))
and MRR over the top 100. The baseline ranks preferred + alternative labels by
0.5 * ratio + 0.5 * token_set_ratio (rapidfuzz, default_process). Prints figures and writes JSON to
bench/results/; it asserts nothing. Only validation splits are read.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process, utils

from taxonomies import esco, starter
from taxonomies.embeddings import EmbeddingModelMissing, SemanticIndex, TextEncoder
from taxonomies.hybrid import HybridIndex, build_searcher
from taxonomies.index import LabelIndex
from taxonomies.model import SKILL_KINDS, ConceptKind, Taxonomy
from taxonomies.occupations import OccupationChoice, TitleSearch

Ranker = Callable[[str], list[str]]
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True, slots=True)
class Query:
    text: str
    gold: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class Scores:
    top1: float
    rp5: float
    mrr: float
    count: int
    p50_ms: float
    p95_ms: float


def span_queries(path: Path) -> list[Query]:
    gold: dict[tuple[str, str], set[str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["esco_uri"]:
                gold.setdefault((row["sentence"], row["span"]), set()).add(row["esco_uri"])
    return [Query(text=span, gold=frozenset(uris)) for (_, span), uris in gold.items()]


def title_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["vacancyTitle"], r["conceptUri"]) for r in csv.DictReader(handle)]


def sample(count: int, limit: int | None) -> list[int]:
    """Every n-th position: deterministic and spread over the file."""
    if not limit or limit >= count:
        return list(range(count))
    step = count / limit
    return [int(i * step) for i in range(limit)]


def title_folds(count: int) -> list[int]:
    """Fold 0 or 1 for each row, from a seeded shuffle (the same in every run)."""
    order = np.random.default_rng(42).permutation(count)
    folds = [0] * count
    for position in order[count // 2 :].tolist():
        folds[position] = 1
    return folds


def learned_scores(
    rows: Sequence[tuple[str, str]], positions: Sequence[int], searcher: LabelIndex | HybridIndex
) -> Scores:
    """Titles of each fold ranked with the other fold's labels as the employer's earlier choices."""
    folds = title_folds(len(rows))
    parts: list[Scores] = []
    for fold in (0, 1):
        choices = [
            OccupationChoice(title=title, occupation_id=uri)
            for (title, uri), f in zip(rows, folds, strict=True)
            if f != fold
        ]
        search = TitleSearch(searcher, choices)
        queries = [
            Query(text=rows[p][0], gold=frozenset({rows[p][1]}))
            for p in positions
            if folds[p] == fold
        ]
        parts.append(
            evaluate(
                queries, lambda text, s=search: [h.concept_id for h in s.search(text, top_k=100)]
            )
        )
    total = sum(p.count for p in parts) or 1
    return Scores(
        top1=sum(p.top1 * p.count for p in parts) / total,
        rp5=sum(p.rp5 * p.count for p in parts) / total,
        mrr=sum(p.mrr * p.count for p in parts) / total,
        count=total,
        p50_ms=max(p.p50_ms for p in parts),
        p95_ms=max(p.p95_ms for p in parts),
    )


def evaluate(queries: Sequence[Query], rank: Ranker) -> Scores:
    top1 = rp5 = mrr = 0.0
    times = []
    for query in queries:
        started = time.perf_counter()
        ranked = rank(query.text)
        times.append(time.perf_counter() - started)
        top1 += bool(ranked) and ranked[0] in query.gold
        rp5 += len(query.gold & set(ranked[:5])) / min(5, len(query.gold))
        mrr += next((1 / (i + 1) for i, cid in enumerate(ranked[:100]) if cid in query.gold), 0.0)
    n = max(1, len(queries))
    ordered = sorted(times)
    return Scores(
        top1=top1 / n,
        rp5=rp5 / n,
        mrr=mrr / n,
        count=len(queries),
        p50_ms=statistics.median(ordered) * 1000 if ordered else 0.0,
        p95_ms=ordered[int(0.95 * (len(ordered) - 1))] * 1000 if ordered else 0.0,
    )


class Baseline:
    """0.5 * ratio + 0.5 * token_set_ratio over preferred + alternative labels, max per concept."""

    def __init__(self, taxonomy: Taxonomy, kinds: frozenset[ConceptKind], *, groups: bool) -> None:
        self.ids: list[str] = []
        labels: list[str] = []
        owners: list[int] = []
        for concept in taxonomy.concepts.values():
            if concept.kind not in kinds or (not groups and concept.reuse_level == "group"):
                continue
            for label in (concept.preferred_label, *concept.alt_labels):
                labels.append(utils.default_process(label))
                owners.append(len(self.ids))
            self.ids.append(concept.id)
        self.labels = labels
        self.owners = np.asarray(owners)

    def __call__(self, text: str) -> list[str]:
        query = utils.default_process(text)
        ratio = process.cdist([query], self.labels, scorer=fuzz.ratio, processor=None, workers=-1)
        token_set = process.cdist(
            [query], self.labels, scorer=fuzz.token_set_ratio, processor=None, workers=-1
        )
        combined = 0.5 * ratio[0] + 0.5 * token_set[0]
        best = np.zeros(len(self.ids))
        np.maximum.at(best, self.owners, combined)
        order = np.lexsort((np.arange(len(best)), -best))[:100]
        return [self.ids[i] for i in order]


def ranker(searcher: LabelIndex | HybridIndex, kinds: frozenset[ConceptKind]) -> Ranker:
    return lambda text: [hit.concept_id for hit in searcher.search(text, top_k=100, kinds=kinds)]


def calibrate(cache_dir: Path, semantic: bool) -> None:
    """Threshold sweep on the starter calibration set (badge titles with known answers)."""
    from service.mapping import SkillClaim, SkillMapper

    rows = list(csv.DictReader((REPO / "tests/fixtures/taxonomies/starter_claims.csv").open()))
    taxonomy = starter.load()
    searcher, notice = build_searcher(
        LabelIndex.build(taxonomy), taxonomy, cache_dir=cache_dir, semantic=semantic
    )
    print(f"searcher: {type(searcher).__name__}" + (f" ({notice})" if notice else ""))
    mapper = SkillMapper(taxonomy, searcher=searcher, threshold=0.0)
    results = [(row, mapper.map([SkillClaim(text=row["text"], source="name")])) for row in rows]
    positives = sum(1 for row in rows if row["expected"])
    print(f"threshold sweep on {len(rows)} starter titles ({positives} with an answer)")
    for row, matches in results:
        if not row["expected"] and matches:
            print(f"  unrelated {row['text']!r}: best {matches[0].label} {matches[0].confidence}")
    for step in range(60, 86, 2):
        threshold = step / 100
        found = sum(
            1
            for row, matches in results
            if row["expected"]
            and any(m.concept_id == row["expected"] and m.confidence >= threshold for m in matches)
        )
        false = sum(
            1
            for row, matches in results
            if not row["expected"] and any(m.confidence >= threshold for m in matches)
        )
        print(f"  {threshold:.2f}  found {found}/{positives}  false acceptances {false}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vendor-data", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "cache")
    parser.add_argument("--no-semantic", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--titles-limit", type=int, default=3000, help="0 = all 15,463")
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args(argv)
    if args.calibrate:
        calibrate(args.cache_dir, semantic=not args.no_semantic)
        return 0
    vendor = args.vendor_data or Path(
        os.environ.get("SKILLPROOF_VENDOR_DATA", REPO.parent / "shared" / "vendor-data")
    )
    eval_dir = vendor / "eval"
    figures: dict[str, object] = {"started": datetime.now(UTC).isoformat()}

    started = time.perf_counter()
    taxonomy = esco.load(vendor / "taxonomies" / "esco" / "v1.1.1")
    figures["esco_import_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    skills = LabelIndex.build(taxonomy, kinds=SKILL_KINDS, groups=False)
    occupations = LabelIndex.build(taxonomy, kinds={ConceptKind.OCCUPATION})
    figures["lexical_index_build_s"] = round(time.perf_counter() - started, 2)
    skill_search: LabelIndex | HybridIndex = skills
    title_search: LabelIndex | HybridIndex = occupations
    if not args.no_semantic:
        try:
            encoder = TextEncoder.from_package()
        except EmbeddingModelMissing as missing:
            print(f"semantic search off: {missing}", file=sys.stderr)
        else:
            started = time.perf_counter()
            skill_vectors = SemanticIndex.build(
                taxonomy, encoder, cache_dir=args.cache_dir, kinds=SKILL_KINDS, groups=False
            )
            title_vectors = SemanticIndex.build(
                taxonomy, encoder, cache_dir=args.cache_dir, kinds={ConceptKind.OCCUPATION}
            )
            figures["semantic_index_load_s"] = round(time.perf_counter() - started, 2)
            skill_search = HybridIndex(skills, skill_vectors)
            title_search = HybridIndex(occupations, title_vectors, profile="titles")
    figures["rss_after_load_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    derived = eval_dir / "decorte-skill-extraction-benchmark" / "derived"
    titles = title_rows(eval_dir / "jobbert-title-normalization" / "titles.csv")
    title_positions = sample(len(titles), args.titles_limit or None)
    sets = {
        "TECH spans": (span_queries(derived / "tech_validation_annotations_with_uri.csv"), False),
        "HOUSE spans": (span_queries(derived / "house_validation_annotations_with_uri.csv"), False),
        "JobBERT titles": (
            [Query(text=titles[p][0], gold=frozenset({titles[p][1]})) for p in title_positions],
            True,
        ),
    }
    baselines = {
        False: Baseline(taxonomy, frozenset(SKILL_KINDS), groups=False),
        True: Baseline(taxonomy, frozenset({ConceptKind.OCCUPATION}), groups=True),
    }
    print(
        f"{'set':<16}{'system':<10}{'n':>6}{'top-1':>8}{'R-P@5':>8}{'MRR':>8}{'p50 ms':>9}"
        f"{'p95 ms':>9}{'embed ms':>10}"
    )
    results: dict[str, dict[str, object]] = {}

    def report(name: str, system: str, scores: Scores, embed_ms: float = 0.0) -> None:
        row: dict[str, object] = {f: getattr(scores, f) for f in Scores.__slots__}
        row["embed_ms_per_phrase_batched"] = round(embed_ms, 2)
        results[f"{name} / {system}"] = row
        print(
            f"{name:<16}{system:<10}{scores.count:>6}{scores.top1:>8.3f}{scores.rp5:>8.3f}"
            f"{scores.mrr:>8.3f}{scores.p50_ms:>9.2f}{scores.p95_ms:>9.2f}{embed_ms:>10.2f}"
        )

    for name, (queries, is_titles) in sets.items():
        kinds = frozenset({ConceptKind.OCCUPATION}) if is_titles else frozenset(SKILL_KINDS)
        searcher = title_search if is_titles else skill_search
        systems: dict[str, Ranker] = {"mapper": ranker(searcher, kinds)}
        if not args.no_baseline:
            systems["baseline"] = baselines[is_titles]
        for system, rank in systems.items():
            embed_ms = 0.0
            if system == "mapper" and isinstance(searcher, HybridIndex):
                # Query vectors are computed in one batch, as `skillproof map --batch` does; the
                # per-phrase cost of that is reported apart from the search latency.
                started = time.perf_counter()
                searcher.prime([q.text for q in queries])
                embed_ms = (time.perf_counter() - started) * 1000 / max(1, len(queries))
            report(name, system, evaluate(queries, rank), embed_ms)
        if is_titles:
            # What full ESCO and the mapper take, before the learned run adds ~7,700 choices.
            figures["peak_rss_mb_mapper"] = round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            )
            report(name, "learned", learned_scores(titles, title_positions, searcher))
    figures["results"] = results
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    for key in (
        "esco_import_s",
        "lexical_index_build_s",
        "semantic_index_load_s",
        "peak_rss_mb_mapper",
        "peak_rss_mb",
    ):
        if key in figures:
            print(f"{key}: {figures[key]}")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "mapping.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
