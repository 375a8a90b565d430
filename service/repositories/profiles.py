"""Role profiles, their immutable versions and requirements."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from service.models import Requirement, RoleProfile, RoleProfileVersion
from service.scoring import ESSENTIAL_WEIGHT, OPTIONAL_WEIGHT


def default_weight(importance: str) -> float:
    return ESSENTIAL_WEIGHT if importance == "essential" else OPTIONAL_WEIGHT


@dataclass(frozen=True, kw_only=True, slots=True)
class RequirementInput:
    concept_id: str
    label: str
    importance: str
    weight: float | None = None


async def create_profile(
    session: AsyncSession, *, tenant_id: str, name: str, job_id: str | None
) -> RoleProfile:
    profile = RoleProfile(tenant_id=tenant_id, name=name, job_id=job_id)
    session.add(profile)
    await session.flush()
    return profile


async def add_version(
    session: AsyncSession,
    *,
    profile: RoleProfile,
    taxonomy: str,
    taxonomy_version: str,
    requirements: list[RequirementInput],
    created_by: str,
    note: str = "",
) -> RoleProfileVersion:
    """Versions are never edited: a change to the requirements is a new version."""
    profile.current_version += 1
    version = RoleProfileVersion(
        tenant_id=profile.tenant_id,
        role_profile_id=profile.id,
        version=profile.current_version,
        taxonomy=taxonomy,
        taxonomy_version=taxonomy_version,
        created_by=created_by,
        note=note,
    )
    session.add_all([profile, version])
    await session.flush()
    session.add_all(
        Requirement(
            tenant_id=profile.tenant_id,
            profile_version_id=version.id,
            concept_id=r.concept_id,
            label=r.label,
            importance=r.importance,
            weight=r.weight
            if r.weight is not None
            else (2.0 if r.importance == "essential" else 1.0),
        )
        for r in requirements
    )
    await session.flush()
    return version


async def profile_for_job(
    session: AsyncSession, *, tenant_id: str, job_id: str
) -> RoleProfile | None:
    return (
        await session.exec(
            select(RoleProfile)
            .where(RoleProfile.tenant_id == tenant_id, RoleProfile.job_id == job_id)
            .order_by(col(RoleProfile.created_at))
        )
    ).first()


async def get_profile(
    session: AsyncSession, *, tenant_id: str, profile_id: str
) -> RoleProfile | None:
    return (
        await session.exec(
            select(RoleProfile).where(
                RoleProfile.tenant_id == tenant_id, RoleProfile.id == profile_id
            )
        )
    ).first()


async def list_profiles(session: AsyncSession, *, tenant_id: str) -> list[RoleProfile]:
    return list(
        (
            await session.exec(
                select(RoleProfile)
                .where(RoleProfile.tenant_id == tenant_id)
                .order_by(col(RoleProfile.name))
            )
        ).all()
    )


async def current_version(
    session: AsyncSession, *, profile: RoleProfile
) -> tuple[RoleProfileVersion, list[Requirement]] | None:
    version = (
        await session.exec(
            select(RoleProfileVersion).where(
                RoleProfileVersion.tenant_id == profile.tenant_id,
                RoleProfileVersion.role_profile_id == profile.id,
                RoleProfileVersion.version == profile.current_version,
            )
        )
    ).first()
    if version is None:
        return None
    requirements = (
        await session.exec(
            select(Requirement)
            .where(
                Requirement.tenant_id == profile.tenant_id,
                Requirement.profile_version_id == version.id,
            )
            .order_by(col(Requirement.importance), col(Requirement.label))
        )
    ).all()
    return version, list(requirements)
