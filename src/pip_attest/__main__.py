"""``python -m pip_attest``."""

from __future__ import annotations

import sys

from pip_attest._cli import main

if __name__ == "__main__":
    sys.exit(main())
