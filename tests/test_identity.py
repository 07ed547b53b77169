"""Publisher identities: the text form users type and read, matching, PEP 740 objects."""

from __future__ import annotations

import pypi_attestations
import pytest
from pydantic import TypeAdapter

from pip_attest._errors import UsageError
from pip_attest._identity import Identity, identity_from_publisher, parse_identity

# The accepted forms, as the refusal of a malformed identity must list them.
DOCUMENTED_FORMS = (
    "github:OWNER/REPO/WORKFLOW[@ENVIRONMENT]",
    "gitlab:NAMESPACE/PROJECT/PATH[@ENVIRONMENT]",
    "google:EMAIL",
    "circleci:PROJECT_ID/PIPELINE_DEFINITION_ID",
)

# Text form -> what it means.
FORMS = {
    "github:octo-org/demo/release.yml": Identity(
        "GitHub", repository="octo-org/demo", workflow="release.yml"
    ),
    "github:octo-org/demo/release.yml@pypi": Identity(
        "GitHub", repository="octo-org/demo", workflow="release.yml", environment="pypi"
    ),
    "gitlab:group/demo/.gitlab-ci.yml": Identity(
        "GitLab", repository="group/demo", workflow=".gitlab-ci.yml"
    ),
    "gitlab:group/demo/.gitlab-ci.yml@production": Identity(
        "GitLab", repository="group/demo", workflow=".gitlab-ci.yml", environment="production"
    ),
    # Nested groups: the last segment is the workflow file.
    "gitlab:group/sub/subsub/demo/.gitlab-ci.yml": Identity(
        "GitLab", repository="group/sub/subsub/demo", workflow=".gitlab-ci.yml"
    ),
    # A workflow path with slashes: '//' separates it from the project, as in GitLab's URIs.
    "gitlab:group/demo//ci/release.yml": Identity(
        "GitLab", repository="group/demo", workflow="ci/release.yml"
    ),
    "gitlab:group/sub/demo//ci/pypi/release.yml@prod": Identity(
        "GitLab",
        repository="group/sub/demo",
        workflow="ci/pypi/release.yml",
        environment="prod",
    ),
    "google:publisher@demo-project.iam.gserviceaccount.com": Identity(
        "Google", email="publisher@demo-project.iam.gserviceaccount.com"
    ),
    "circleci:0a1b2c3d-project/4e5f6a7b-pipeline": Identity(
        "CircleCI", project_id="0a1b2c3d-project", pipeline_definition_id="4e5f6a7b-pipeline"
    ),
}


@pytest.mark.parametrize(("text", "identity"), list(FORMS.items()), ids=list(FORMS))
def test_documented_form_parses(text: str, identity: Identity) -> None:
    assert parse_identity(text) == identity


@pytest.mark.parametrize("text", list(FORMS), ids=list(FORMS))
def test_documented_form_round_trips(text: str) -> None:
    assert str(parse_identity(text)) == text


@pytest.mark.parametrize("identity", list(FORMS.values()), ids=list(FORMS))
def test_identity_round_trips_through_its_text(identity: Identity) -> None:
    assert parse_identity(str(identity)) == identity


def test_gitlab_workflow_with_slash_is_written_with_double_slash() -> None:
    """Without '//', 'group/demo/ci/release.yml' would read as project group/demo/ci."""
    identity = Identity("GitLab", repository="group/demo", workflow="ci/release.yml")
    assert str(identity) == "gitlab:group/demo//ci/release.yml"
    assert parse_identity("gitlab:group/demo/ci/release.yml") == Identity(
        "GitLab", repository="group/demo/ci", workflow="release.yml"
    )


def test_surrounding_whitespace_is_ignored() -> None:
    assert (
        parse_identity("  github:octo-org/demo/release.yml\n")
        == FORMS["github:octo-org/demo/release.yml"]
    )


MALFORMED = [
    pytest.param("", id="empty"),
    pytest.param("octo-org/demo/release.yml", id="no-kind"),
    pytest.param("github", id="kind-only"),
    pytest.param("github:", id="kind-and-colon"),
    pytest.param("bitbucket:octo-org/demo/release.yml", id="unknown-kind"),
    pytest.param("activestate:octo-org/demo", id="activestate"),
    pytest.param("oidc:william@yossarian.net", id="oidc-is-not-a-pin"),
    pytest.param("github:octo-org/release.yml", id="github-no-repository"),
    pytest.param("github:octo-org/demo/", id="github-empty-workflow"),
    pytest.param("github:octo-org/demo", id="github-no-workflow"),
    pytest.param("github:octo-org/demo/release.yml@", id="github-empty-environment"),
    pytest.param("github:octo-org/sub/demo/release.yml", id="github-nested-owner"),
    pytest.param("github://demo/release.yml", id="github-empty-owner"),
    pytest.param("github:octo-org//release.yml", id="github-empty-repo"),
    pytest.param("gitlab:demo/.gitlab-ci.yml", id="gitlab-no-namespace"),
    pytest.param("gitlab:group/demo//", id="gitlab-empty-path"),
    pytest.param("gitlab:group//ci/release.yml", id="gitlab-double-slash-no-project"),
    pytest.param("gitlab:group//demo/.gitlab-ci.yml", id="gitlab-empty-group-segment"),
    pytest.param("gitlab:group/demo/.gitlab-ci.yml@", id="gitlab-empty-environment"),
    pytest.param("google:", id="google-empty"),
    pytest.param("google:publisher", id="google-no-at"),
    pytest.param("google:@example.com", id="google-no-local-part"),
    pytest.param("google:publisher@", id="google-no-domain"),
    pytest.param("circleci:0a1b-project", id="circleci-no-pipeline"),
    pytest.param("circleci:/2c3d-pipeline", id="circleci-no-project"),
    pytest.param("github:octo-org/demo/release.yml@pypi\nverified", id="newline-in-environment"),
    pytest.param("google:a\x1b[2J@example.com", id="escape-in-email"),
    pytest.param("circleci:0a1b-project/", id="circleci-empty-pipeline"),
    pytest.param("circleci:0a1b/2c3d/extra", id="circleci-extra-segment"),
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_form_is_a_usage_error_listing_the_forms(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_identity(text)
    message = str(err.value)
    assert repr(text) in message
    for form in DOCUMENTED_FORMS:
        assert form in message
    assert "\n" not in message


# -- satisfies ----------------------------------------------------------------------------


def p(text: str) -> Identity:
    return parse_identity(text)


SATISFIES = [
    # (proven by the certificate, expected by a pin, accepted?)
    pytest.param(
        "github:octo-org/demo/release.yml", "github:octo-org/demo/release.yml", True, id="same"
    ),
    pytest.param(
        "github:Octo-Org/Demo/release.yml", "github:octo-org/demo/release.yml", True, id="repo-case"
    ),
    pytest.param(
        "github:octo-org/demo/release.yml", "github:OCTO-ORG/DEMO/release.yml", True, id="pin-case"
    ),
    pytest.param(
        "github:octo-org/demo/release.yml", "github:octo-org/demo/publish.yml", False, id="workflow"
    ),
    pytest.param(
        "github:octo-org/demo/release.yml", "github:octo-org/demo2/release.yml", False, id="repo"
    ),
    pytest.param(
        "github:octo-org/demo/release.yml", "github:fork/demo/release.yml", False, id="owner"
    ),
    pytest.param(
        "github:octo-org/demo/release.yml@pypi",
        "github:octo-org/demo/release.yml",
        True,
        id="pin-without-env-accepts-an-env",
    ),
    pytest.param(
        "github:octo-org/demo/release.yml@anything",
        "github:octo-org/demo/release.yml",
        True,
        id="pin-without-env-accepts-any-env",
    ),
    pytest.param(
        "github:octo-org/demo/release.yml@pypi",
        "github:octo-org/demo/release.yml@pypi",
        True,
        id="pin-with-env-same-env",
    ),
    pytest.param(
        "github:octo-org/demo/release.yml@testpypi",
        "github:octo-org/demo/release.yml@pypi",
        False,
        id="pin-with-env-other-env",
    ),
    pytest.param(
        "github:octo-org/demo/release.yml",
        "github:octo-org/demo/release.yml@pypi",
        False,
        id="pin-with-env-cert-without-env",
    ),
    pytest.param(
        "gitlab:Group/Sub/Demo/.gitlab-ci.yml",
        "gitlab:group/sub/demo/.gitlab-ci.yml",
        True,
        id="gitlab-repo-case",
    ),
    pytest.param(
        "gitlab:group/sub/demo/.gitlab-ci.yml@prod",
        "gitlab:group/sub/demo/.gitlab-ci.yml@staging",
        False,
        id="gitlab-other-env",
    ),
    pytest.param(
        "gitlab:group/sub/demo/.gitlab-ci.yml",
        "gitlab:group/demo/.gitlab-ci.yml",
        False,
        id="gitlab-other-group",
    ),
    pytest.param(
        "gitlab:octo-org/demo/release.yml",
        "github:octo-org/demo/release.yml",
        False,
        id="same-fields-other-kind",
    ),
    pytest.param(
        "google:publisher@demo.iam.gserviceaccount.com",
        "google:publisher@demo.iam.gserviceaccount.com",
        True,
        id="google-same",
    ),
    pytest.param(
        "google:publisher@demo.iam.gserviceaccount.com",
        "google:attacker@demo.iam.gserviceaccount.com",
        False,
        id="google-other",
    ),
    pytest.param("circleci:p1/d1", "circleci:p1/d1", True, id="circleci-same"),
    pytest.param("circleci:p1/d1", "circleci:p1/d2", False, id="circleci-other-pipeline"),
    pytest.param("circleci:p1/d1", "circleci:p2/d1", False, id="circleci-other-project"),
]


@pytest.mark.parametrize(("proven", "expected", "accepted"), SATISFIES)
def test_satisfies(proven: str, expected: str, accepted: bool) -> None:
    assert p(proven).satisfies(p(expected)) is accepted


def test_gitlab_environment_compares_exactly() -> None:
    """PyPI compares GitLab environments exactly (warehouse/oidc/models/gitlab.py)."""
    assert not p("gitlab:group/demo/.gitlab-ci.yml@Production").satisfies(
        p("gitlab:group/demo/.gitlab-ci.yml@production")
    )


def test_non_publisher_signer_satisfies_no_pin() -> None:
    """A plain OIDC signer (e-mail, as in the staging fixture) is nobody's Trusted Publisher."""
    signer = Identity("OIDC", subject="octo@example.com", issuer="https://github.com/login/oauth")
    assert str(signer) == "oidc:octo@example.com (issuer https://github.com/login/oauth)"
    assert not signer.satisfies(p("google:octo@example.com"))
    assert not signer.satisfies(p("github:octo/demo/release.yml"))


# -- PEP 740 publisher objects ------------------------------------------------------------

PUBLISHERS = {
    "github:octo-org/demo/release.yml": {
        "kind": "GitHub",
        "repository": "octo-org/demo",
        "workflow": "release.yml",
    },
    "github:octo-org/demo/release.yml@pypi": {
        "kind": "GitHub",
        "repository": "octo-org/demo",
        "workflow": "release.yml",
        "environment": "pypi",
    },
    "gitlab:group/sub/demo//ci/release.yml@prod": {
        "kind": "GitLab",
        "repository": "group/sub/demo",
        "workflow_filepath": "ci/release.yml",
        "environment": "prod",
    },
    "google:publisher@demo.iam.gserviceaccount.com": {
        "kind": "Google",
        "email": "publisher@demo.iam.gserviceaccount.com",
    },
    "circleci:p1/d1": {"kind": "CircleCI", "project_id": "p1", "pipeline_definition_id": "d1"},
}


@pytest.mark.parametrize(("text", "publisher"), list(PUBLISHERS.items()), ids=list(PUBLISHERS))
def test_to_publisher_gives_pep740_keys(text: str, publisher: dict[str, str]) -> None:
    out = p(text).to_publisher()
    assert out == publisher
    # pypi-attestations' wire models accept it as the publisher it is ...
    model = TypeAdapter(pypi_attestations.Publisher).validate_python(out)
    assert model.kind == publisher["kind"]
    # ... and reading it back gives the same identity.
    assert identity_from_publisher(out) == p(text)


@pytest.mark.parametrize(
    "publisher",
    [
        pytest.param({"kind": "ActiveState", "organization": "octo"}, id="unknown-kind"),
        pytest.param({"kind": "GitHub", "repository": "octo/demo"}, id="github-no-workflow"),
        pytest.param({"kind": "GitLab", "repository": "g/demo", "workflow": "x"}, id="gitlab-key"),
        pytest.param({"kind": "Google", "email": 42}, id="google-not-a-string"),
        pytest.param({"kind": "CircleCI", "project_id": "p1"}, id="circleci-no-pipeline"),
        pytest.param(
            {"kind": "GitHub", "repository": "octo/demo", "workflow": "r.yml\nverified"},
            id="newline-in-workflow",
        ),
        pytest.param({}, id="no-kind"),
    ],
)
def test_unusable_publisher_object_is_a_value_error(publisher: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        identity_from_publisher(publisher)
