"""``python -m pip_attest``."""

from __future__ import annotations

from pip_attest._process import run

if __name__ == "__main__":
    run()
