"""Job titles -> occupations, and an occupation -> a draft role profile HR can edit."""

from __future__ import annotations

from dataclasses import dataclass

from taxonomies.model import ConceptKind, RelationKind, Taxonomy


@dataclass(frozen=True, kw_only=True, slots=True)
class DraftRequirement:
    """One skill of a draft profile; `weight` orders requirements (O*NET importance, else None)."""

    concept_id: str
    label: str
    essential: bool
    weight: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DraftRoleProfile:
    """What a taxonomy says an occupation needs: a starting point, never a finished profile."""

    occupation_id: str
    title: str
    description: str | None
    taxonomy: str
    attribution: str
    requirements: tuple[DraftRequirement, ...]

    @property
    def essential(self) -> tuple[DraftRequirement, ...]:
        return tuple(r for r in self.requirements if r.essential)

    @property
    def optional(self) -> tuple[DraftRequirement, ...]:
        return tuple(r for r in self.requirements if not r.essential)


def draft_role_profile(
    taxonomy: Taxonomy, occupation_id: str, *, max_optional: int | None = None
) -> DraftRoleProfile:
    """Essential skills first, then optional ones, each group by weight (if any) then label."""
    occupation = taxonomy.concept(occupation_id)
    if occupation.kind is not ConceptKind.OCCUPATION:
        raise ValueError(f"{occupation_id} is a {occupation.kind}, not an occupation")
    template = taxonomy.role_template(occupation_id)
    weights: dict[tuple[str, RelationKind], float | None] = {
        (r.source, r.kind): r.weight
        for r in taxonomy.relations
        if r.target == occupation_id
        and r.kind in (RelationKind.ESSENTIAL_FOR, RelationKind.OPTIONAL_FOR)
    }
    requirements: list[DraftRequirement] = []
    for essential, ids in (
        (True, template.essential if template else ()),
        (False, template.optional if template else ()),
    ):
        kind = RelationKind.ESSENTIAL_FOR if essential else RelationKind.OPTIONAL_FOR
        group = [
            DraftRequirement(
                concept_id=cid,
                label=taxonomy.concept(cid).preferred_label,
                essential=essential,
                weight=weights.get((cid, kind)),
            )
            for cid in ids
            if cid in taxonomy.concepts
        ]
        group.sort(key=lambda r: (-(r.weight or 0.0), r.label.casefold(), r.concept_id))
        if not essential and max_optional is not None:
            group = group[:max_optional]
        requirements.extend(group)
    return DraftRoleProfile(
        occupation_id=occupation_id,
        title=occupation.preferred_label,
        description=occupation.description,
        taxonomy=taxonomy.key,
        attribution=taxonomy.attribution,
        requirements=tuple(requirements),
    )
