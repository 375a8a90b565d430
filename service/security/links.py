"""Signed, expiring links to a match's evidence page, safe to push into an ATS or email."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

EVIDENCE_SALT = "skillproof/evidence-link/v1"
EVIDENCE_MAX_AGE_SECONDS = 60 * 60 * 24 * 90


class LinkError(Exception):
    """The link is forged, altered or expired."""


class LinkSigner:
    def __init__(self, secret_keys: list[str]) -> None:
        # itsdangerous signs with the last key and accepts all of them, so keys can rotate.
        self._serializer = URLSafeTimedSerializer(list(reversed(secret_keys)), salt=EVIDENCE_SALT)

    def evidence_token(self, *, tenant_id: str, match_id: str) -> str:
        return self._serializer.dumps({"t": tenant_id, "m": match_id})

    def read_evidence_token(
        self, token: str, *, max_age: int = EVIDENCE_MAX_AGE_SECONDS
    ) -> tuple[str, str]:
        try:
            data = self._serializer.loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise LinkError("this evidence link has expired") from exc
        except BadSignature as exc:
            raise LinkError("this evidence link is not valid") from exc
        return str(data["t"]), str(data["m"])
