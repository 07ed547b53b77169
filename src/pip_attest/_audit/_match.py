"""Which index file an installed distribution came from: a wheel of its tags and build
number, and whether its WHEEL file is that wheel's own."""

from __future__ import annotations

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion

from pip_attest._audit._archive import Manifest
from pip_attest._audit._bind import Installed
from pip_attest._audit._installed import InstalledDist
from pip_attest._pip._pages import ProjectPages
from pip_attest._text import plain


def searched(pages: ProjectPages) -> str:
    """The indexes a project's files were looked for in, for a message."""
    shown_ = ", ".join(plain(s, 80) for s in pages.searched[:2])
    return f"the index ({shown_})" if len(pages.searched) == 1 else f"the indexes ({shown_})"


def wheel_matches(filename: str, dist: InstalledDist) -> bool:
    """A wheel of the installed one's tags (its WHEEL file) and build number."""
    try:
        _, _, build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return False
    number = "".join(str(part) for part in build)
    return tags == dist.tags and number == dist.build


def same_wheel_file(dist: InstalledDist, installed: Installed, manifest: Manifest) -> bool:
    """Whether the installed WHEEL file is the wheel's own: then what is installed came from
    that wheel (or one built the same way), never from a local build of the sdist."""
    path = f"{dist.info_dir.name}/WHEEL"
    mine = installed.files.get(path)
    theirs = manifest.members.get(path)
    return mine is not None and theirs is not None and mine.hashed.sha256 == theirs[0]
