"""Fetch sources, reconcile, write: all or nothing. Used by the CLI and by CatalogSyncer."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..catalog.yamlio import InputError
from .common import ImportResult, now_utc
from .fetch import FetchError
from .reconcile import MergeOutcome
from .report import catalog_counts, diff_summary, render_report, review_diff
from .run import apply_imports, existing_providers, import_source
from .sources import SourcesConfig, load_sources


class SyncError(Exception):
    """A source failed; the catalog was not changed."""


def fetch_all(
    locations: dict[str, Any],
    *,
    config: SourcesConfig,
    recorded_at: datetime,
    progress: Progress | None = None,
) -> list[ImportResult]:
    """Import every source, or raise SyncError naming the ones that failed (nothing kept)."""
    results, failures = [], []
    task = progress.add_task("importing", total=len(locations)) if progress else None
    for source, location in locations.items():
        if progress is not None and task is not None:
            progress.update(task, description=f"importing {source}")
        try:
            results.append(import_source(source, location, config=config, recorded_at=recorded_at))
        except (FetchError, ValueError, KeyError, TypeError) as exc:
            failures.append(f"{source}: {exc}")
        if progress is not None and task is not None:
            progress.advance(task)
    if failures:
        raise SyncError("; ".join(failures))
    return results


def sync_catalog(
    catalog_dir: Path,
    locations: dict[str, Any],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> tuple[dict, MergeOutcome]:
    """Import ``locations`` (source → file, URL or data) into ``catalog_dir``. Returns the
    providers before the change and the outcome. Raises SyncError (nothing written) if any
    source fails."""
    now = now or now_utc()
    config = load_sources(catalog_dir)
    results = fetch_all(locations, config=config, recorded_at=now, progress=progress)
    before = existing_providers(catalog_dir.resolve()) if catalog_dir.exists() else {}
    outcome = apply_imports(catalog_dir, results, config=config, now=now, dry_run=dry_run)
    return before, outcome


def run_imports(
    catalog_dir: Path,
    locations: dict[str, Any],
    *,
    dry_run: bool = False,
    report_path: Path | None = None,
    out: TextIO,
) -> bool:
    """The CLI's import/sync: progress bar, review diff, report; False if nothing was written
    because a source failed."""
    console = Console(file=out, highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            before, outcome = sync_catalog(
                catalog_dir, locations, dry_run=dry_run, progress=progress
            )
    except (SyncError, InputError) as exc:
        console.print(f"[red]import failed, catalog unchanged:[/red] {exc}")
        return False
    diff = review_diff(before, outcome, catalog_dir)
    console.print(diff_summary(diff), markup=False)
    console.print(diff.to_markdown(), markup=False, soft_wrap=True)  # tables: never wrapped
    counts = catalog_counts(outcome.providers, outcome.imported)
    verb = "would change" if dry_run else "changed"
    console.print(
        f"{verb} {len(outcome.changed)} provider file(s) in {catalog_dir}; catalog now: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; conflicts {len(outcome.conflicts)}",
        markup=False,
    )
    if report_path is not None:
        report_path.write_text(render_report(outcome), encoding="utf-8")
        console.print(f"report: {report_path}", markup=False)
    return True
