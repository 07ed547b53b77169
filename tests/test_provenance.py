"""Facts _provenance repeats from pip so that it needs no pip import."""

from __future__ import annotations

from pip_attest._provenance import PYPI_FILE_HOSTS


def test_pypi_hosts_agree_with_pips_own_models() -> None:
    from pip._internal.models.index import PyPI, TestPyPI

    expected = {
        PyPI.file_storage_domain: PyPI.url.rstrip("/"),
        TestPyPI.file_storage_domain: TestPyPI.url.rstrip("/"),
    }
    assert expected == PYPI_FILE_HOSTS
