"""`skillproof map` and `skillproof occupations`: try the mapper and the title search by hand.

    skillproof map "Certified ScrumMaster" [--taxonomy starter|esco] [--top K] [--json]
    skillproof map --batch phrases.txt --json          one JSON line per phrase
    skillproof occupations "Junior data analyst" [--top K] [--profile] [--json]
    skillproof occupations --batch titles.txt --json
    skillproof occupations "Production Operator" --choices earlier.csv

`--choices` reads a CSV with `title,occupation_id` columns: occupations chosen before for job
titles, which the ranking learns from as it does from a tenant's choices in the service.

The taxonomy comes from the starter package or from an ESCO CSV release (`--esco-dir`, default
the vendor data's v1.1.1). Label vectors are cached under SKILLPROOF_DATA_DIR/cache/embeddings;
without the embedding model the commands say so and use lexical search only.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from service.mapping import SkillClaim, SkillMapper
from service.settings import Settings
from taxonomies import esco, starter
from taxonomies.hybrid import HybridIndex, build_searcher
from taxonomies.index import LabelIndex
from taxonomies.model import SKILL_KINDS, ConceptKind, Taxonomy
from taxonomies.occupations import OccupationChoice, TitleSearch, draft_role_profile
from taxonomies.progress import Progress, StderrProgress, silent

_ESCO_RELEASE = Path("taxonomies") / "esco" / "v1.1.1"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `map` and `occupations` commands."""
    mapping = subparsers.add_parser(
        "map", help="map a phrase (or a file of phrases) onto taxonomy skills"
    )
    _common(mapping, "TEXT", "the phrase to map, e.g. a badge title")
    mapping.set_defaults(handler=handle_map)
    titles = subparsers.add_parser(
        "occupations", help="rank the occupations that best fit a job title"
    )
    _common(titles, "TITLE", "the job title to look up")
    titles.add_argument(
        "--profile", action="store_true", help="also print the best occupation's draft profile"
    )
    titles.add_argument(
        "--choices",
        type=Path,
        metavar="CSV",
        help="earlier choices to learn from: a CSV with title,occupation_id columns",
    )
    titles.set_defaults(handler=handle_occupations)


def _common(parser: argparse.ArgumentParser, metavar: str, text_help: str) -> None:
    parser.add_argument("text", nargs="?", metavar=metavar, help=text_help)
    parser.add_argument("--batch", type=Path, help="a UTF-8 file with one phrase per line")
    parser.add_argument("--taxonomy", choices=("starter", "esco"), default=None)
    parser.add_argument("--esco-dir", type=Path, help="ESCO CSV release folder (implies esco)")
    parser.add_argument(
        "--top", type=_positive, default=5, metavar="K", help="at most K results (K >= 1)"
    )
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    parser.add_argument(
        "--no-semantic", action="store_true", help="lexical matching only (faster start)"
    )


def handle_map(args: argparse.Namespace, settings: Settings) -> int:
    """Map each phrase; an empty result means the mapper abstained."""
    phrases = _phrases(args)
    if phrases is None:
        return 2
    taxonomy = _taxonomy(args, settings)
    lexical = LabelIndex.build(taxonomy, kinds=SKILL_KINDS)
    progress = _progress()
    searcher, notice = build_searcher(
        lexical,
        taxonomy,
        cache_dir=settings.data_dir / "cache" / "embeddings",
        semantic=not args.no_semantic,
        progress=progress,
    )
    _done(progress)
    _notice(notice)
    if isinstance(searcher, HybridIndex):
        searcher.prime(phrases)
    mapper = SkillMapper(taxonomy, searcher=searcher)
    out = sys.stdout
    for phrase in phrases:
        matches = mapper.map([SkillClaim(text=phrase, source="name")])[: max(args.top, 0)]
        rows = [
            {
                "concept_id": m.concept_id,
                "label": m.label,
                "score": m.confidence,
                "method": m.method,
            }
            for m in matches
        ]
        _emit(out, args.json, phrase, rows)
    _attribution(out, args.json, taxonomy)
    return 0


def handle_occupations(args: argparse.Namespace, settings: Settings) -> int:
    """Rank occupations for each title; `--profile` adds the best one's draft role profile."""
    titles = _phrases(args)
    if titles is None:
        return 2
    taxonomy = _taxonomy(args, settings)
    lexical = LabelIndex.build(taxonomy, kinds={ConceptKind.OCCUPATION})
    progress = _progress()
    searcher, notice = build_searcher(
        lexical,
        taxonomy,
        cache_dir=settings.data_dir / "cache" / "embeddings",
        semantic=not args.no_semantic,
        profile="titles",
        progress=progress,
    )
    _done(progress)
    _notice(notice)
    choices = _choices(args.choices) if args.choices is not None else []
    if choices is None:
        return 2
    search = TitleSearch(searcher, choices)
    if search.ignored:
        print(
            f"{len(choices) - search.learned} of {len(choices)} choices name no occupation of"
            f" {taxonomy.key} and are ignored: {', '.join(search.ignored[:5])}"
            + (" ..." if len(search.ignored) > 5 else ""),
            file=sys.stderr,
        )
    if isinstance(searcher, HybridIndex):
        searcher.prime(titles)
    out = sys.stdout
    for title in titles:
        hits = search.search(title, top_k=args.top)
        rows: list[dict[str, Any]] = [
            {"concept_id": h.concept_id, "label": h.label, "score": h.score, "method": h.method}
            for h in hits
        ]
        extra: dict[str, Any] = {}
        if args.profile and hits:
            profile = draft_role_profile(taxonomy, hits[0].concept_id)
            extra["profile"] = {
                "occupation_id": profile.occupation_id,
                "title": profile.title,
                "essential": [[r.concept_id, r.label] for r in profile.essential],
                "optional": [[r.concept_id, r.label] for r in profile.optional],
            }
        _emit(out, args.json, title, rows, extra)
    _attribution(out, args.json, taxonomy)
    return 0


def _choices(path: Path) -> list[OccupationChoice] | None:
    """Earlier choices from a CSV (title, occupation_id); None after saying what is wrong."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"title", "occupation_id"} - set(reader.fieldnames or ())
            if missing:
                print(f"{path}: missing column(s) {', '.join(sorted(missing))}", file=sys.stderr)
                return None
            return [
                OccupationChoice(title=row["title"], occupation_id=row["occupation_id"])
                for row in reader
                if row["title"] and row["occupation_id"]
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        print(f"cannot read {path}: {error}", file=sys.stderr)
        return None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} results: K must be at least 1")
    return value


def _phrases(args: argparse.Namespace) -> list[str] | None:
    if args.batch is not None:
        try:
            text = args.batch.read_text(encoding="utf-8")
        except OSError as error:
            print(f"cannot read {args.batch}: {error.strerror}", file=sys.stderr)
            return None
        except UnicodeDecodeError as error:
            print(f"cannot read {args.batch}: not UTF-8 text ({error.reason})", file=sys.stderr)
            return None
        return [line.strip() for line in text.splitlines() if line.strip()]
    if not args.text:
        print("give a phrase or --batch FILE", file=sys.stderr)
        return None
    return [str(args.text)]


def _taxonomy(args: argparse.Namespace, settings: Settings) -> Taxonomy:
    if args.esco_dir is not None or args.taxonomy == "esco":
        directory = args.esco_dir or settings.vendor_data / _ESCO_RELEASE
        progress = _progress()
        taxonomy = esco.load(directory, progress=progress)
        _done(progress)
        return taxonomy
    return starter.load()


def _progress() -> Progress:
    """A progress bar on an interactive terminal, nothing otherwise (logs stay clean)."""
    return StderrProgress() if sys.stderr.isatty() else silent


def _done(progress: Progress) -> None:
    if isinstance(progress, StderrProgress):
        progress.close()


def _notice(notice: str | None) -> None:
    if notice:
        print(f"note: {notice}", file=sys.stderr)


def _emit(
    out: TextIO,
    as_json: bool,
    query: str,
    rows: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> None:
    if as_json:
        out.write(
            json.dumps({"query": query, "matches": rows, **(extra or {})}, ensure_ascii=False)
            + "\n"
        )
        return
    out.write(f"{query}\n")
    if not rows:
        out.write("  (no confident match: unmapped)\n")
    for row in rows:
        out.write(f"  {row['score']:.3f}  {row['label']}  [{row['method']}]  {row['concept_id']}\n")
    profile = (extra or {}).get("profile")
    if profile:
        out.write(f"  draft profile for {profile['title']}:\n")
        for heading in ("essential", "optional"):
            for concept_id, label in profile[heading]:
                out.write(f"    {heading:<9} {label}  {concept_id}\n")


def _attribution(out: TextIO, as_json: bool, taxonomy: Taxonomy) -> None:
    # JSON lines stay one object per phrase; the attribution goes to stderr there.
    print(taxonomy.attribution, file=sys.stderr if as_json else out)
