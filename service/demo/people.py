"""The demo's cast: roles, candidates and the credentials each one presents.

Every credential is a real OB 3.0 AchievementCredential signed by the demo issuer; four are
deliberately bad (expired, revoked, tampered after signing, issued to another email) and must
be rejected by verification and contribute nothing to any score.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoRole:
    key: str
    title: str
    template_id: str  # starter taxonomy role template the profile is drafted from


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoAchievement:
    name: str
    description: str
    criteria: str
    skills: tuple[str, ...] = ()  # starter concept ids, carried as alignments
    achievement_type: str = "MicroCredential"
    hours: int | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoCredential:
    achievement: DemoAchievement
    issuer: str = "northbridge"
    defect: str | None = None  # expired | revoked | tampered | other_email


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoCandidate:
    first_name: str
    last_name: str
    email: str
    role: str
    credentials: tuple[DemoCredential, ...] = field(default_factory=tuple)


ROLES = (
    DemoRole(key="analyst", title="Data Analyst", template_id="sp:occupation/data-analyst"),
    DemoRole(
        key="backend", title="Backend Developer", template_id="sp:occupation/backend-developer"
    ),
    DemoRole(key="nurse", title="Registered Nurse", template_id="sp:occupation/registered-nurse"),
)

SQL = DemoAchievement(
    name="SQL for Data Analysis",
    description="Querying relational databases with SQL: joins, aggregation, window functions.",
    criteria="Passed a proctored practical exam writing SQL queries against a sales database.",
    skills=("sp:skill/sql",),
    hours=30,
)
VIZ = DemoAchievement(
    name="Data Visualisation with Tableau",
    description="Designing clear charts and dashboards for business audiences.",
    criteria="Built and presented a dashboard assessed against a published rubric.",
    skills=("sp:skill/data-visualisation", "sp:skill/tableau"),
    hours=24,
)
STATS = DemoAchievement(
    name="Descriptive Statistics for Business",
    description="Summarising data with measures of centre and spread; distributions.",
    criteria="Completed graded problem sets and a final assessment.",
    skills=("sp:skill/descriptive-statistics",),
    hours=20,
)
CLEANING = DemoAchievement(
    name="Data Cleaning and Preparation",
    description="Profiling, cleaning and reshaping messy datasets in spreadsheets and Python.",
    criteria="Cleaned a real-world dataset; work reviewed by an assessor.",
    skills=("sp:skill/data-cleaning", "sp:skill/spreadsheet-analysis"),
    hours=16,
)
PYTHON = DemoAchievement(
    name="Python Programming Fundamentals",
    description="Writing, testing and packaging Python programs.",
    criteria="Passed an automated coding assessment.",
    skills=("sp:skill/python-programming",),
    hours=40,
)
REST = DemoAchievement(
    name="Designing REST APIs",
    description="Resource modelling, HTTP semantics, versioning and pagination for web APIs.",
    criteria="Designed and implemented an API reviewed by two assessors.",
    skills=("sp:skill/rest-api",),
    hours=20,
)
GIT = DemoAchievement(
    name="Version Control with Git",
    description="Branching, merging, rebasing and code review workflows with Git.",
    criteria="Completed practical exercises on a shared repository.",
    skills=("sp:skill/git",),
    hours=8,
)
TESTING = DemoAchievement(
    name="Unit Testing in Practice",
    description="Writing unit tests, test doubles and test-driven development.",
    criteria="Submitted a tested code base assessed for coverage and quality.",
    skills=("sp:skill/unit-testing",),
    hours=12,
)
DOCKER = DemoAchievement(
    name="Containers with Docker",
    description="Building and running container images.",
    criteria="Passed a practical lab assessment.",
    skills=("sp:skill/containers",),
    hours=10,
)
IPC = DemoAchievement(
    name="Infection Prevention and Control",
    description="Hand hygiene, PPE, isolation precautions and aseptic technique in clinical care.",
    criteria="Observed clinical practice signed off by a registered assessor.",
    skills=("sp:skill/infection-prevention-control",),
    hours=14,
)
SAFETY = DemoAchievement(
    name="Patient Safety Essentials",
    description="Recognising and reporting risks, incidents and near misses in patient care.",
    criteria="Case-based assessment marked by a clinical educator.",
    skills=("sp:skill/patient-safety",),
    hours=10,
)
MEDS = DemoAchievement(
    name="Safe Medication Administration",
    description="Calculating doses and administering medicines safely.",
    criteria="Supervised practice and a drug calculation exam.",
    skills=("sp:skill/medication-administration",),
    hours=18,
)
VITALS = DemoAchievement(
    name="Vital Signs Monitoring",
    description="Measuring and interpreting temperature, pulse, respiration and blood pressure.",
    criteria="Skills checklist completed in a simulation lab.",
    skills=("sp:skill/vital-signs",),
    hours=6,
)

CANDIDATES = (
    DemoCandidate(
        first_name="Ada",
        last_name="Lovelace",
        email="ada.lovelace@example.com",
        role="analyst",
        credentials=(
            DemoCredential(achievement=SQL),
            DemoCredential(achievement=VIZ),
            DemoCredential(achievement=STATS),
            DemoCredential(achievement=CLEANING),
        ),
    ),
    DemoCandidate(
        first_name="Alan",
        last_name="Turing",
        email="alan.turing@example.com",
        role="analyst",
        credentials=(
            DemoCredential(achievement=SQL),
            DemoCredential(achievement=PYTHON, defect="tampered"),
        ),
    ),
    DemoCandidate(
        first_name="Grace",
        last_name="Hopper",
        email="grace.hopper@example.com",
        role="backend",
        credentials=(
            DemoCredential(achievement=PYTHON),
            DemoCredential(achievement=REST),
            DemoCredential(achievement=GIT),
            DemoCredential(achievement=DOCKER, defect="expired"),
        ),
    ),
    DemoCandidate(
        first_name="Katherine",
        last_name="Johnson",
        email="katherine.johnson@example.com",
        role="backend",
        credentials=(
            DemoCredential(achievement=TESTING),
            DemoCredential(achievement=REST, defect="other_email"),
        ),
    ),
    DemoCandidate(
        first_name="Florence",
        last_name="Nightingale",
        email="florence.n@example.com",
        role="nurse",
        credentials=(
            DemoCredential(achievement=IPC),
            DemoCredential(achievement=SAFETY),
            DemoCredential(achievement=VITALS),
            DemoCredential(achievement=MEDS, defect="revoked"),
        ),
    ),
)
