"""Everything that touches pip's internals. Nothing outside this package imports pip."""

from __future__ import annotations
