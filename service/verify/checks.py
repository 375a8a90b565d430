"""Checks on a VC's shape and issuer: structure and JSON Schema, key binding, trust tier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from jsonschema import Draft201909Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from service.verify.dataintegrity import ProofReport
from service.verify.dids import KeyResolver
from service.verify.errors import KeyResolutionError
from service.verify.policy import VerifyPolicy
from service.verify.result import CheckId, CheckResult, IssuerTier, Outcome

VC_V1 = "https://www.w3.org/2018/credentials/v1"
VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB3_TYPES = frozenset({"OpenBadgeCredential", "AchievementCredential"})
SCHEMA_VALIDATOR_TYPE = "1EdTechJsonSchemaValidator2019"
MAX_SCHEMA_ERRORS = 3


class SchemaSource(Protocol):
    def has_schema(self, url: str) -> bool: ...

    def load_schema(self, url: str) -> dict[str, Any]: ...


def types_of(node: Any) -> list[str]:
    value = node.get("type") if isinstance(node, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def issuer_id(document: Mapping[str, Any]) -> str | None:
    issuer = document.get("issuer")
    if isinstance(issuer, str):
        return issuer
    if isinstance(issuer, Mapping) and isinstance(issuer.get("id"), str):
        return str(issuer["id"])
    return None


def issuer_name(document: Mapping[str, Any]) -> str | None:
    issuer = document.get("issuer")
    if isinstance(issuer, Mapping):
        name = issuer.get("name")
        if isinstance(name, str):
            return name
        if isinstance(name, Mapping):
            return next((v for v in name.values() if isinstance(v, str)), None)
        legal = issuer.get("legalName")
        if isinstance(legal, Mapping):
            return next((v for v in legal.values() if isinstance(v, str)), None)
    return None


def base_context_problem(document: Mapping[str, Any]) -> str | None:
    """VC documents must start their @context with the VC 1.1 or 2.0 context."""
    context = document.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    if first not in (VC_V1, VC_V2):
        return f"the first @context must be {VC_V2} (or {VC_V1}), not {first!r}"
    return None


def check_structure(document: Mapping[str, Any], schemas: SchemaSource) -> CheckResult:
    """Required VC / OB 3.0 members, then any pinned 1EdTech JSON Schema."""
    failures: list[str] = []
    warnings: list[str] = []
    types = types_of(document)
    if "VerifiableCredential" not in types:
        failures.append("type does not include VerifiableCredential")
    if issuer_id(document) is None:
        failures.append("issuer (with an id) is missing")
    subjects = document.get("credentialSubject")
    subject_list = subjects if isinstance(subjects, list) else [subjects]
    if not subjects or not all(isinstance(s, Mapping) for s in subject_list):
        failures.append("credentialSubject is missing")
    first_context = document.get("@context")
    if isinstance(first_context, list) and first_context and first_context[0] == VC_V1:
        if "issuanceDate" not in document:
            warnings.append("VC 1.1 credential without issuanceDate")
        warnings.append("VC 1.1 data model (superseded by VC 2.0)")
    if OB3_TYPES & set(types):
        for subject in subject_list:
            if not isinstance(subject, Mapping):
                continue
            if not isinstance(subject.get("achievement"), Mapping):
                failures.append("credentialSubject.achievement is missing")
            if subject.get("id") is None and subject.get("identifier") is None:
                warnings.append("credentialSubject has neither id nor identifier (no recipient)")
    schema_notes = _check_schemas(document, schemas)
    failures.extend(schema_notes[0])
    warnings.extend(schema_notes[1])
    if failures:
        return CheckResult(id=CheckId.SCHEMA, outcome=Outcome.FAIL, detail="; ".join(failures))
    if warnings:
        return CheckResult(id=CheckId.SCHEMA, outcome=Outcome.WARN, detail="; ".join(warnings))
    return CheckResult(id=CheckId.SCHEMA, outcome=Outcome.PASS, detail="well-formed credential")


def _check_schemas(
    document: Mapping[str, Any], schemas: SchemaSource
) -> tuple[list[str], list[str]]:
    failures: list[str] = []
    warnings: list[str] = []
    declared = document.get("credentialSchema")
    for entry in declared if isinstance(declared, list) else [declared] if declared else []:
        if not isinstance(entry, Mapping):
            failures.append("credentialSchema entry is not an object")
            continue
        url, kind = entry.get("id"), entry.get("type")
        if kind != SCHEMA_VALIDATOR_TYPE:
            warnings.append(f"schema type {kind} not checked")
            continue
        if not isinstance(url, str) or not schemas.has_schema(url):
            warnings.append(f"schema {url} is not pinned; only structural checks were made")
            continue
        errors = _validate(document, url, schemas)
        if errors is None:
            warnings.append(f"schema {url} could not be used")
        elif errors:
            failures.append(f"does not match its schema {url}: " + "; ".join(errors))
    return failures, warnings


def _validate(document: Mapping[str, Any], url: str, schemas: SchemaSource) -> list[str] | None:
    def retrieve(uri: str) -> Resource[Any]:
        # Only pinned schemas: a $ref to anything else fails instead of reaching the network.
        if not schemas.has_schema(uri):
            raise Unresolvable(uri)
        return Resource.from_contents(schemas.load_schema(uri))

    try:
        schema = schemas.load_schema(url)
        registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
        validator = Draft201909Validator(schema, registry=registry)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    except (SchemaError, Unresolvable, LookupError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - the store's own refusal (pin mismatch): schema unusable
        return None
    messages = []
    for error in errors[:MAX_SCHEMA_ERRORS]:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        messages.append(f"{where}: {error.message[:160]}")
    return messages


async def check_issuer_binding(
    document: Mapping[str, Any],
    proofs: Sequence[ProofReport],
    keys: KeyResolver,
    *,
    now: datetime,
) -> CheckResult:
    """Is the key that signed it one the issuer controls (or that the issuer's DID authorises)?"""
    issuer = issuer_id(document)
    valid = [p for p in proofs if p.outcome is Outcome.PASS and p.method is not None]
    if issuer is None:
        return CheckResult(
            id=CheckId.ISSUER_BINDING, outcome=Outcome.FAIL, detail="the credential has no issuer"
        )
    if not valid:
        return CheckResult(
            id=CheckId.ISSUER_BINDING,
            outcome=Outcome.UNKNOWN,
            detail=f"not established: no valid proof ties a key to {issuer}",
        )
    for proof in valid:
        assert proof.method is not None
        if proof.method.controller == issuer:
            return CheckResult(
                id=CheckId.ISSUER_BINDING,
                outcome=Outcome.PASS,
                detail=f"signed with {proof.method.id}, a key the issuer {issuer} controls",
            )
    signer = valid[0].method
    assert signer is not None
    if issuer.startswith(("did:key:", "did:jwk:", "did:web:")):
        # The issuer's own DID document says which keys speak for it: check it.
        try:
            issuer_document = await keys.controller(issuer, now=now)
        except KeyResolutionError as exc:
            outcome = Outcome.UNKNOWN if exc.infrastructure else Outcome.FAIL
            return CheckResult(
                id=CheckId.ISSUER_BINDING,
                outcome=outcome,
                detail=f"signed by {signer.controller}; the issuer DID {issuer} could not be"
                f" checked: {exc}",
            )
        source = f"; {issuer_document.stand_in}" if issuer_document.stand_in else ""
        for proof in valid:
            assert proof.method is not None
            if "assertionMethod" in issuer_document.references.get(proof.method.id, frozenset()):
                return CheckResult(
                    id=CheckId.ISSUER_BINDING,
                    outcome=Outcome.PASS,
                    detail=f"signed with {proof.method.id}, which {issuer} authorises{source}",
                )
        return CheckResult(
            id=CheckId.ISSUER_BINDING,
            outcome=Outcome.FAIL,
            detail=f"claims issuer {issuer} but is signed by {signer.controller}, a key the"
            f" issuer's DID does not authorise{source}",
        )
    return CheckResult(
        id=CheckId.ISSUER_BINDING,
        outcome=Outcome.WARN,
        detail=f"signed by {signer.controller}, which is not the stated issuer {issuer}: the"
        " signature proves the content, not who the issuer is",
    )


def check_issuer_trust(
    document: Mapping[str, Any], binding: CheckResult, policy: VerifyPolicy
) -> tuple[CheckResult, IssuerTier]:
    """The issuer's tier from the policy, granted only when the key is bound to the issuer."""
    issuer = issuer_id(document)
    tier = policy.trusted_issuers.get(issuer) if issuer else None
    label = issuer_name(document) or issuer or "the issuer"
    if tier is not None and tier is not IssuerTier.UNKNOWN:
        if binding.outcome is Outcome.PASS:
            return (
                CheckResult(
                    id=CheckId.ISSUER_TRUST,
                    outcome=Outcome.PASS,
                    detail=f"{label} is a trusted issuer ({tier})",
                ),
                tier,
            )
        return (
            CheckResult(
                id=CheckId.ISSUER_TRUST,
                outcome=Outcome.WARN,
                detail=f"{issuer} is a trusted issuer, but this signature is not bound to it,"
                " so its trust is not granted",
            ),
            IssuerTier.UNKNOWN,
        )
    return (
        CheckResult(
            id=CheckId.ISSUER_TRUST,
            outcome=Outcome.WARN,
            detail=f"{label} is not in the trusted issuers list",
        ),
        IssuerTier.UNKNOWN,
    )
