"""Publisher identities: one model for pins, lock files, certificates and reports.

An :class:`Identity` is what a verified attestation proves about who built a file. It is
derived from the *certificate*, never from what the index claims, and it has one documented
text form (``github:OWNER/REPO/WORKFLOW[@ENVIRONMENT]`` and friends) that users type in pins
and see in messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from pip_attest._errors import UsageError

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
GOOGLE_ISSUER = "https://accounts.google.com"
CIRCLECI_ISSUER = "https://oidc.circleci.com"

# PEP 740 publisher kinds, spelled as on the wire, keyed by our lower-case prefix.
KINDS = {"github": "GitHub", "gitlab": "GitLab", "google": "Google", "circleci": "CircleCI"}

FORMS = (
    "github:OWNER/REPO/WORKFLOW[@ENVIRONMENT]",
    "gitlab:NAMESPACE/PROJECT/PATH[@ENVIRONMENT]",
    "google:EMAIL",
    "circleci:PROJECT_ID/PIPELINE_DEFINITION_ID",
)


class Identity(NamedTuple):
    """A publisher identity.

    ``kind`` is the PEP 740 publisher kind (``GitHub``, ``GitLab``, ``Google``, ``CircleCI``),
    or ``OIDC`` for a signer that is not a Trusted Publisher (only ever seen through
    ``pip-attest verify``). Unused fields are ``None``.
    """

    kind: str
    repository: str | None = None  # GitHub and GitLab: OWNER/REPO, NAMESPACE/PROJECT
    workflow: str | None = None  # GitHub: workflow file name; GitLab: workflow_filepath
    environment: str | None = None  # GitHub and GitLab deployment environment
    email: str | None = None  # Google
    project_id: str | None = None  # CircleCI
    pipeline_definition_id: str | None = None  # CircleCI
    subject: str | None = None  # OIDC: the certificate's SAN
    issuer: str | None = None  # OIDC: the certificate's issuer

    def __str__(self) -> str:
        env = f"@{self.environment}" if self.environment else ""
        if self.kind == "GitHub":
            return f"github:{self.repository}/{self.workflow}{env}"
        if self.kind == "GitLab":
            sep = "//" if "/" in (self.workflow or "") else "/"
            return f"gitlab:{self.repository}{sep}{self.workflow}{env}"
        if self.kind == "Google":
            return f"google:{self.email}"
        if self.kind == "CircleCI":
            return f"circleci:{self.project_id}/{self.pipeline_definition_id}"
        return f"oidc:{self.subject} (issuer {self.issuer})"

    def without_environment(self) -> Identity:
        return self._replace(environment=None)

    def satisfies(self, expected: Identity) -> bool:
        """Whether this (proven) identity is acceptable where ``expected`` is required.

        Repository names compare case-insensitively: GitHub and GitLab treat them so. An
        expected identity without an environment accepts any environment; one with an
        environment requires exactly that one.
        """
        if self.kind != expected.kind:
            return False
        if expected.environment and not same_environment(
            self.kind, self.environment, expected.environment
        ):
            return False
        if self.kind in ("GitHub", "GitLab"):
            return (self.repository or "").casefold() == (
                expected.repository or ""
            ).casefold() and self.workflow == expected.workflow
        if self.kind == "Google":
            return (self.email or "").casefold() == (expected.email or "").casefold()
        if self.kind == "CircleCI":
            return (
                self.project_id == expected.project_id
                and self.pipeline_definition_id == expected.pipeline_definition_id
            )
        return self.subject == expected.subject and self.issuer == expected.issuer

    def to_publisher(self) -> dict[str, str]:
        """The PEP 740 publisher object (and PEP 751 ``attestation-identities`` entry)."""
        out: dict[str, str] = {"kind": self.kind}
        if self.kind == "GitHub":
            out.update(repository=self.repository or "", workflow=self.workflow or "")
        elif self.kind == "GitLab":
            out.update(repository=self.repository or "", workflow_filepath=self.workflow or "")
        elif self.kind == "Google":
            out["email"] = self.email or ""
        elif self.kind == "CircleCI":
            out.update(
                project_id=self.project_id or "",
                pipeline_definition_id=self.pipeline_definition_id or "",
            )
        if self.environment:
            out["environment"] = self.environment
        return out


def same_environment(kind: str, proven: str | None, expected: str) -> bool:
    """GitHub environment names are case-insensitive; PyPI compares GitLab's exactly."""
    if proven is None:
        return False
    if kind == "GitHub":
        return proven.casefold() == expected.casefold()
    return proven == expected


def parse_identity(text: str) -> Identity:
    """Parse the documented text form. Raises :class:`UsageError` with the accepted forms."""
    kind, sep, rest = text.strip().partition(":")
    kind = kind.lower()
    if _CONTROL.search(rest) or not sep or kind not in KINDS or not rest:
        raise _bad(text)
    if kind in ("github", "gitlab"):
        rest, at, environment = rest.rpartition("@") if "@" in rest else (rest, "", "")
        if at and not environment:
            raise _bad(text)
        if kind == "gitlab" and "//" in rest:
            repository, _, workflow = rest.partition("//")
        else:
            repository, _, workflow = rest.rpartition("/")
        if repository.count("/") < 1 or not workflow or "" in repository.split("/"):
            raise _bad(text)
        if kind == "github" and repository.count("/") != 1:
            raise _bad(text)
        return Identity(
            KINDS[kind], repository=repository, workflow=workflow, environment=environment or None
        )
    if kind == "google":
        if "@" not in rest or rest.startswith("@") or rest.endswith("@"):
            raise _bad(text)
        return Identity("Google", email=rest)
    project_id, slash, pipeline = rest.partition("/")
    if not slash or not project_id or not pipeline or "/" in pipeline:
        raise _bad(text)
    return Identity("CircleCI", project_id=project_id, pipeline_definition_id=pipeline)


def identity_from_publisher(publisher: Mapping[str, Any]) -> Identity:
    """An identity from a PEP 740 publisher object (as an index or a lock file states it).

    Raises ``ValueError`` for an unknown kind or missing keys: the caller decides whether
    that makes a file invalid or a lock file malformed.
    """
    kind = publisher.get("kind")

    def field(name: str, *, optional: bool = False) -> str | None:
        value = publisher.get(name)
        if value is None or value == "":
            if optional:
                return None
            raise ValueError(f"{kind} publisher has no {name!r}")
        if not isinstance(value, str):
            raise ValueError(f"{kind} publisher field {name!r} is not a string")
        if _CONTROL.search(value):
            raise ValueError(f"{kind} publisher field {name!r} holds control characters")
        return value

    if kind == "GitHub":
        return Identity(
            "GitHub",
            repository=field("repository"),
            workflow=field("workflow"),
            environment=field("environment", optional=True),
        )
    if kind == "GitLab":
        return Identity(
            "GitLab",
            repository=field("repository"),
            workflow=field("workflow_filepath"),
            environment=field("environment", optional=True),
        )
    if kind == "Google":
        return Identity("Google", email=field("email"))
    if kind == "CircleCI":
        return Identity(
            "CircleCI",
            project_id=field("project_id"),
            pipeline_definition_id=field("pipeline_definition_id"),
        )
    raise ValueError(f"unknown publisher kind {kind!r}")


def _bad(text: str) -> UsageError:
    return UsageError(
        f"invalid publisher identity {text[:200]!r}; expected one of: {', '.join(FORMS)}"
    )


# No identity holds a line break or another control character; one would forge lines in
# every message that names it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
