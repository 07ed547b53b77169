"""A file pip is about to use, as pip means it: what every stage is handed."""

from __future__ import annotations

from typing import NamedTuple

from pip_attest._model import Origin
from pip_attest._provenance import Advert, FileRef


class Candidate(NamedTuple):
    """A file pip is about to use, as pip means it.

    ``project`` and ``version`` are pip's: the candidate's canonical name, and the version
    pip reads from the file's name for that project (or the one a lock states). ``project``
    is empty for a requirement pip cannot name before building it (a bare URL), and
    ``version`` when pip does not know it (a source tree). ``sha256`` is that of the very
    bytes pip uses; empty for a source tree (``tree`` says which kind), which can carry no
    attestation. ``problem`` says why the file cannot be what pip takes it for (its name is
    another project's, say): such a file is invalid, whatever its provenance.
    """

    filename: str
    sha256: str
    file_url: str
    project: str
    version: str
    advert: Advert | None = None
    origin: Origin = Origin.INDEX
    problem: str = ""
    tree: str = ""

    def ref(self) -> FileRef:
        return FileRef(self.file_url, self.filename, self.advert, self.project, self.version)
