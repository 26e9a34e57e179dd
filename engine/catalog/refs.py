"""Resolve a reference to an earlier catalog: a git ref, a catalog directory or a snapshot.

``validate --against`` and ``diff`` compare the working catalog with what was published before.
A git ref is read with ``git archive`` into a temporary directory: the catalog's path inside the
repository is derived from ``--catalog``, so a user's own catalog in their own repo works too.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .load import UNITS_FILE

SNAPSHOT_MANIFEST = "manifest.json"


class RefError(Exception):
    """A reference that cannot be read (unknown ref, not a git repository, wrong directory)."""


@dataclass(frozen=True)
class Source:
    """Where an earlier catalog lives once resolved: a catalog directory or a snapshot."""

    kind: Literal["catalog", "snapshot"]
    path: Path
    label: str


@contextmanager
def resolve_ref(ref: str, catalog_dir: Path) -> Iterator[Source]:
    """Yield the catalog or snapshot ``ref`` names; a git ref's files live until the exit."""
    path = Path(ref)
    if path.is_dir():
        if (path / SNAPSHOT_MANIFEST).is_file():
            yield Source("snapshot", path, ref)
        elif (path / UNITS_FILE).is_file():
            yield Source("catalog", path, ref)
        else:
            raise RefError(
                f"{ref}: a directory that is neither a catalog ({UNITS_FILE}) "
                f"nor a snapshot ({SNAPSHOT_MANIFEST})"
            )
        return
    with tempfile.TemporaryDirectory(prefix="byokvault-ref-") as tmp:
        yield Source("catalog", extract_git_catalog(ref, catalog_dir, Path(tmp)), ref)


def extract_git_catalog(ref: str, catalog_dir: Path, into: Path) -> Path:
    """Write the files of ``catalog_dir`` as they were at ``ref`` under ``into``; return the
    extracted catalog directory."""
    catalog_dir = catalog_dir.resolve()
    if not catalog_dir.is_dir():
        raise RefError(f"{catalog_dir}: catalog directory does not exist")
    top = Path(_git(catalog_dir, "rev-parse", "--show-toplevel", what="a git repository"))
    relative = catalog_dir.relative_to(top.resolve()).as_posix()
    commit = _git(catalog_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", what=ref)
    done = subprocess.run(
        ["git", "-C", str(top), "archive", "--format=tar", commit, "--", relative],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RefError(f"{ref}: the catalog path {relative!r} does not exist at this ref")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / relative


def _git(cwd: Path, *args: str, what: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        if what == "a git repository":
            raise RefError(f"{cwd} is not inside a git repository, so a git ref cannot be read")
        raise RefError(f"{what}: not a directory, and not a git ref known in {cwd}")
    return done.stdout.strip()
