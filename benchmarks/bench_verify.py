"""Verification throughput: attestations per CPU-second, single-threaded (so: per core).

    python benchmarks/bench_verify.py [--count N]

Over ``N`` attestations minted by the throwaway Sigstore (one per file, distinct files):

1. ``pypi_attestations.Attestation.verify`` per file, the library's own entry point. It
   builds a sigstore ``Verifier`` on every call (``Verifier.production()``); here that
   classmethod is pointed at the throwaway trust root, read and parsed on each call, which
   is what ``production(offline=True)`` does with its TUF-cached root.
2. pip-attest's verifier: one ``Verifier`` per run, each provenance parsed and verified, the
   identity read from the certificate (``AttestationVerifier``).
3. pip-attest's checker with an empty verification cache: the whole per-file path of an
   install (read the provenance beside the file, verify, write the cache entry).
4. The same checker with the cache warm: every file a hit, no cryptography.

And two floors, to read the others against: sigstore's own ``Verifier.verify_dsse`` on
bundles already parsed (what any caller of the unmodified verifier pays, at the least), and
the signature checks alone (one P-384 for the Fulcio chain, four P-256: SCT, log entry
promise, checkpoint, DSSE) with the same curves and hashes.

CPU time, not wall time, so that other load on the machine does not count; the minting is
not timed. The sigstore import is not included (see ``bench_install.py`` for it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.throwaway_sigstore import ThrowawaySigstore, github  # noqa: E402


@dataclass(frozen=True)
class File:
    filename: str
    sha256: str
    path: Path
    provenance: bytes
    repository: str


def mint(work: Path, count: int) -> tuple[Path, list[File]]:
    sig = ThrowawaySigstore()
    root = sig.write_trusted_root(work / "trusted_root.json")
    files = []
    dists = work / "dists"
    dists.mkdir()
    for i in range(count):
        path = dists / f"tput{i}-1.0-py3-none-any.whl"
        path.write_bytes(f"not really a wheel {i}".encode())
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        repository = f"bench/tput{i}"
        body = json.dumps(sig.provenance_for(path.name, sha256, github(repository))).encode()
        Path(f"{path}.provenance").write_bytes(body)
        files.append(File(path.name, sha256, path, body, repository))
    return root, files


def per_cpu_second(
    files: list[File], one: Callable[[File], object], finish: Callable[[], object] = lambda: None
) -> float:
    """Files per CPU-second of this process (all its threads), ``finish`` included."""
    start = time.process_time()
    for file in files:
        one(file)
    finish()
    return len(files) / (time.process_time() - start)


def bench_library(root: Path, files: list[File]) -> float:
    import pypi_attestations
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    def production(cls: type[Verifier], *, offline: bool = False) -> Verifier:
        return cls(trusted_root=TrustedRoot.from_file(str(root)))

    Verifier.production = classmethod(production)  # type: ignore[assignment,method-assign]

    def one(file: File) -> object:
        provenance = pypi_attestations.Provenance.model_validate_json(file.provenance)
        dist = pypi_attestations.Distribution(name=file.filename, digest=file.sha256)
        publisher = pypi_attestations.GitHubPublisher(
            repository=file.repository, workflow="release.yml"
        )
        return [
            attestation.verify(publisher, dist, offline=True)
            for bundle in provenance.attestation_bundles
            for attestation in bundle.attestations
        ]

    return per_cpu_second(files, one)


def bench_verifier(root: Path, files: list[File]) -> float:
    from pip_attest._model import Artifact
    from pip_attest._names import parse_any
    from pip_attest._verify import AttestationVerifier, parse_provenance

    verifier = AttestationVerifier(root)

    def one(file: File) -> object:
        named = parse_any(file.filename)
        assert named is not None
        artifact = Artifact(file.filename, file.sha256, *named)
        return verifier.verify(artifact, parse_provenance(file.provenance))

    return per_cpu_second(files, one)


def bench_sigstore_alone(root: Path, files: list[File]) -> float:
    """``Verifier.verify_dsse`` per attestation, with the bundles built beforehand and the
    keyrings built once (as pip-attest does): no PEP 740 parsing, no identity reading."""
    from pip_attest._verify import _ACCEPT_ANY, AttestationVerifier, parse_provenance

    verifier = AttestationVerifier(root)._verifier
    bundles = {
        f.filename: [a.to_bundle() for _, a in parse_provenance(f.provenance).items] for f in files
    }

    def one(file: File) -> object:
        return [verifier.verify_dsse(bundle, _ACCEPT_ANY) for bundle in bundles[file.filename]]

    return per_cpu_second(files, one)


def bench_signatures_alone(count: int) -> float:
    """One P-384 (SHA-384) and four P-256 (SHA-256) ECDSA checks per attestation."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    checks = []
    curves = [(ec.SECP384R1(), hashes.SHA384())] + [(ec.SECP256R1(), hashes.SHA256())] * 4
    for curve, digest in curves:
        key = ec.generate_private_key(curve)
        message = os.urandom(600)
        checks.append((key.public_key(), key.sign(message, ec.ECDSA(digest)), message, digest))
    start = time.process_time()
    for _ in range(count):
        for public, signature, message, digest in checks:
            public.verify(signature, message, ec.ECDSA(digest))
    return count / (time.process_time() - start)


def bench_checker(root: Path, files: list[File]) -> tuple[float, float]:
    """(cold, warm) through the checker, with the cache in a fresh directory."""
    from pip_attest._check import Candidate, Checker
    from pip_attest._config import Settings
    from pip_attest._names import parse_any

    checker = Checker(Settings(trust_root=root), session=None)
    checker.prover.verifier()  # built once per run in both cases; not what is measured
    candidates = {}
    for f in files:
        named = parse_any(f.filename)
        assert named is not None
        candidates[f.filename] = Candidate(f.filename, f.sha256, f.path.as_uri(), *named)

    def one(file: File) -> object:
        evidence, _ = checker.examine(candidates[file.filename])
        if evidence.kind.value != "verified":
            raise SystemExit(f"{file.filename}: {evidence.reason}")
        return evidence

    # The checker writes cache entries on a thread of its own: their cost is counted too.
    cold = per_cpu_second(files, one, checker.prover.finish_writes)
    warm = per_cpu_second(files, one, checker.prover.finish_writes)
    return cold, warm


def rows(count: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        os.environ.pop("PIP_ATTEST_NO_CACHE", None)
        root, files = mint(work, count)
        library = bench_library(root, files)
        verifier = bench_verifier(root, files)
        cold, warm = bench_checker(root, files)
        sigstore_alone = bench_sigstore_alone(root, files)
        signatures = bench_signatures_alone(count)
    what = f"verify {count} attestations, per CPU-second"
    return [
        f"| {what}: one `Verifier` per run (`AttestationVerifier`) "
        f"| `Attestation.verify` {library:,.0f}/s | {verifier:,.0f}/s "
        f"| {verifier / library:.2f}x |",
        f"| {what}: whole check, verification cache cold (writes entries) "
        f"| `Attestation.verify` {library:,.0f}/s | {cold:,.0f}/s | {cold / library:.2f}x |",
        f"| {what}: whole check, verification cache warm (no cryptography) "
        f"| `Attestation.verify` {library:,.0f}/s | {warm:,.0f}/s | {warm / library:.0f}x |",
        f"| floor: sigstore `Verifier.verify_dsse` alone, bundles parsed beforehand "
        f"| — | {sigstore_alone:,.0f}/s | — |",
        f"| floor: the signature checks alone (1 P-384 + 4 P-256 ECDSA) "
        f"| — | {signatures:,.0f}/s | — |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    print("| benchmark | baseline | pip-attest | ratio |")
    print("|---|---|---|---|")
    for row in rows(args.count):
        print(row)


if __name__ == "__main__":
    main()
