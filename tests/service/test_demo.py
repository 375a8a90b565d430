"""The whole flow end to end: demo issuer -> sandbox ATS -> sync -> verify -> score -> push."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.demo import run_once
from service.demo.seed import ensure_contexts
from tests.conftest import REPO_ROOT, Database
from tests.service.support import make_settings

pytestmark = pytest.mark.vendor_data

DEFECTS = {
    # candidate -> (credential name, the check that must fail)
    "Alan Turing": ("Advanced Python Programming Fundamentals", "proof"),
    "Grace Hopper": ("Containers with Docker", "validity_period"),
    "Katherine Johnson": ("Designing REST APIs", "holder"),
    "Florence Nightingale": ("Safe Medication Administration", "status"),
}


@pytest.fixture
def demo_settings(tmp_path: Path, vendor_data: Path, db: Database) -> object:
    settings = make_settings(db.url, tmp_path, vendor_data=vendor_data)
    ensure_contexts(settings)
    return settings


async def test_demo_pipeline_scores_pushes_and_rejects_bad_credentials(
    demo_settings: object, db: Database
) -> None:
    report = await run_once(demo_settings, database_url=db.url)  # type: ignore[arg-type]
    assert report["sync"] == "ok"
    applications = {a["candidate"]: a for a in report["applications"]}
    assert len(applications) == 5
    total = sum(len(a["credentials"]) for a in applications.values())
    assert total >= 12
    for name, app in applications.items():
        assert isinstance(app["score"], int), f"{name} has no score"
        assert app["pushed"], f"{name}'s match never reached the sandbox ATS"
    for name, (credential, check) in DEFECTS.items():
        bad = [c for c in applications[name]["credentials"] if c["name"] == credential]
        assert bad, f"{credential} missing from {name}'s credentials"
        assert bad[0]["verdict"] == "rejected", bad
        assert check in bad[0]["failed_checks"], bad
        others = [c for c in applications[name]["credentials"] if c is not bad[0]]
        assert all(c["verdict"] == "verified" for c in others), others
    assert applications["Ada Lovelace"]["band"] == "strong"


async def test_rejected_credentials_contribute_nothing(demo_settings: object, db: Database) -> None:
    report = await run_once(demo_settings, database_url=db.url)  # type: ignore[arg-type]
    grace = next(a for a in report["applications"] if a["candidate"] == "Grace Hopper")
    from service.runtime import open_runtime
    from service.views import application_detail

    async with open_runtime(demo_settings) as runtime:  # type: ignore[arg-type]
        from service.repositories import tenancy

        async with runtime.sessions() as session:
            tenant = await tenancy.tenant_by_slug(session, "demo")
        assert tenant is not None
        from service.views import application_list

        items = await application_list(runtime, tenant_id=tenant.id)
        grace_id = next(i["id"] for i in items if i["candidate"] == "Grace Hopper")
        detail = await application_detail(runtime, tenant_id=tenant.id, application_id=grace_id)
    evidence = [
        e["credential_name"]
        for c in detail["match"]["explanation"]["contributions"]
        for e in c["evidence"]
    ]
    assert "Containers with Docker" not in evidence, "an expired credential must not count"
    assert grace["score"] == detail["match"]["score"]


@pytest.mark.slow
def test_demo_once_json_command(tmp_path: Path, vendor_data: Path) -> None:
    """The command a newcomer runs: exits 0 and prints the documented JSON shape."""
    env = {
        "PATH": str(Path(sys.executable).parent),
        "SKILLPROOF_VENDOR_DATA": str(vendor_data),
        "SKILLPROOF_CONTEXTS_DIR": str(tmp_path / "contexts"),
        "SKILLPROOF_DATA_DIR": str(tmp_path / "var"),
        "SKILLPROOF_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "service", "demo", "--once", "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    for app in report["applications"]:
        assert set(app) >= {"candidate", "role", "score", "band", "credentials", "pushed"}
        assert app["pushed"] is True
        for credential in app["credentials"]:
            assert set(credential) >= {"name", "verdict", "failed_checks"}
