"""Settings read from the environment, with defaults that hold together."""

from __future__ import annotations

import pytest

from service.settings import Environment, Settings


def test_the_public_url_follows_the_port_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLPROOF_PORT", "18181")
    monkeypatch.delenv("SKILLPROOF_BASE_URL", raising=False)
    settings = Settings(env=Environment.DEVELOPMENT)
    assert settings.base_url == "http://127.0.0.1:18181", "evidence links and the demo ATS"
    assert Settings(env=Environment.DEVELOPMENT, host="::", port=9000).base_url == (
        "http://127.0.0.1:9000"
    )


def test_a_configured_public_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLPROOF_PORT", "18181")
    monkeypatch.setenv("SKILLPROOF_BASE_URL", "https://skills.example.com")
    assert Settings(env=Environment.DEVELOPMENT).base_url == "https://skills.example.com"


def test_production_refuses_a_missing_or_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKILLPROOF_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(env=Environment.PRODUCTION)
    with pytest.raises(ValueError, match="at least 32"):
        Settings(env=Environment.PRODUCTION, secret_key="too-short-but-not-a-placeholder")
