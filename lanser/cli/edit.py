"""Mutating commands: prepare-rename, rename, action, recover.

Preview is the default: nothing is written without --apply.
"""

from __future__ import annotations

from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.nav import format_option

__all__ = ["COMMANDS"]


def _guards(f: Any) -> Any:
    f = click.option("--commit", is_flag=True, help="Record a git commit of the applied edit.")(f)
    f = click.option("-m", "--message", default=None, help="Commit message (with --commit).")(f)
    f = click.option("--via-git", is_flag=True, help="Apply with `git apply --3way`; conflicts come back as hunks.")(f)
    f = click.option("--deny", multiple=True, metavar="GLOB", help="Refuse edits to matching paths (repeatable).")(f)
    f = click.option("--allow", multiple=True, metavar="GLOB", help="Edit only matching paths (repeatable).")(f)
    f = click.option("--allow-dirty", is_flag=True, help="Write even with uncommitted changes in the worktree.")(f)
    f = click.option("--apply", is_flag=True, help="Write the edit (default: preview only).")(f)
    f = click.option("--dry-run", is_flag=True, help="Preview only (the default; for symmetry with --apply).")(f)
    return f


def _guard_args(
    apply: bool,
    dry_run: bool,
    allow_dirty: bool,
    allow: tuple[str, ...],
    deny: tuple[str, ...],
    via_git: bool,
    commit: bool,
    message: str | None,
) -> dict[str, Any]:
    """The guard options as the client's keyword arguments (lanser.client: rename, actions)."""
    if apply and dry_run:
        raise click.UsageError("--apply and --dry-run contradict each other")
    return {
        "apply": apply,
        "allow_dirty": allow_dirty,
        "allow": allow,
        "deny": deny,
        "via_git": via_git,
        "commit": commit,
        "message": message,
    }


@click.command(
    "prepare-rename",
    help="""Can the symbol at SELECTOR be renamed? Shows its range and current name.

\b
Examples:
  lanser prepare-rename 'py://pkg.shapes#total_area'
  lanser --json prepare-rename 'csrc/geometry.c@L8:C5'""",
)
@click.argument("selector")
@format_option()
@click.pass_obj
def prepare_rename(settings: Settings, selector: str, fmt: str | None) -> None:
    from lanser.cli.client import client, render_result

    raise SystemExit(render_result(settings, client(settings).prepare_rename(selector), fmt))


@click.command(
    "rename",
    help="""Rename the symbol at SELECTOR to NEW_NAME, everywhere, or not at all.

Previews the unified diff by default; --apply writes every file in one
transaction (rolled back on failure, recovered after a crash). The edit is
cross-checked against the symbol's references and against every occurrence
of the old name in the project's files (each must be edited or resolve to
another symbol): a partial rename is refused (E/APPLY_CONFLICT, the
occurrences listed with their selectors) unless --allow-partial. An invalid
new name is E/BAD_REQUEST before any server is asked. Renaming a Python method that
overrides, or is overridden by, methods of related classes is partial too,
unless --with-overrides renames the whole family. Writes stay inside the workspace
and are refused over uncommitted work unless --allow-dirty.

\b
Examples:
  lanser rename 'py://pkg.shapes#total_area' sum_areas
  lanser rename 'py://pkg.shapes#total_area' sum_areas --apply --commit
  lanser rename 'py://pkg.shapes#Shape.area' surface --with-overrides
  lanser --json rename 'csrc/geometry.c@L8:C5' taxicab --apply --deny 'vendor/*'""",
)
@click.argument("selector")
@click.argument("new_name")
@_guards
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Take an edit that leaves references or unexplained occurrences behind (listed; not recommended).",
)
@click.option(
    "--with-overrides",
    is_flag=True,
    help="Python methods: rename the overrides in subclasses and the base methods overridden too.",
)
@click.option(
    "--deny-apply-on-ambiguous",
    is_flag=True,
    help="Refuse to apply when the selector resolved with confidence below 1.",
)
@format_option()
@click.pass_obj
def rename(
    settings: Settings,
    /,
    selector: str,
    new_name: str,
    allow_partial: bool,
    with_overrides: bool,
    deny_apply_on_ambiguous: bool,
    fmt: str | None,
    **guard: Any,
) -> None:
    from lanser.cli.client import client, render_result

    result = client(settings).rename(
        selector,
        new_name,
        allow_partial=allow_partial,
        with_overrides=with_overrides,
        deny_apply_on_ambiguous=deny_apply_on_ambiguous,
        **_guard_args(**guard),
    )
    raise SystemExit(render_result(settings, result, fmt))


@click.command(
    "action",
    help="""List the code actions at SELECTOR (quick fixes, refactors, organise imports),
or preview / apply one by its id.

\b
Examples:
  lanser action 'pkg/report.py@L14:C5'
  lanser action 'pkg/report.py@L14:C5' --id 3f9a1c2b7d10
  lanser action 'pkg/report.py@L14:C5' --id 3f9a1c2b7d10 --apply""",
)
@click.argument("selector")
@click.option("--id", "action_id", default=None, help="The action to preview (or apply with --apply).")
@_guards
@click.option(
    "--deny-apply-on-ambiguous",
    is_flag=True,
    help="Refuse to apply when the selector resolved with confidence below 1.",
)
@format_option()
@click.pass_obj
def action(
    settings: Settings,
    /,
    selector: str,
    action_id: str | None,
    deny_apply_on_ambiguous: bool,
    fmt: str | None,
    **guard: Any,
) -> None:
    from lanser.cli.client import client, render_result

    if guard.get("apply") and not action_id:
        raise click.UsageError("--apply needs --id (list the actions first)")
    result = client(settings).actions(
        selector, action_id=action_id, deny_apply_on_ambiguous=deny_apply_on_ambiguous, **_guard_args(**guard)
    )
    raise SystemExit(render_result(settings, result, fmt))


@click.command(
    "recover",
    help="""Undo an edit transaction that a crash left half-applied.

Every lanser command does this on its own when it opens the workspace (and
skips it while an apply holds the workspace's lock); this command does only
that. The journal lives in lanser's per-user state directory, never in the
workspace; a journal that fails a check (ownership, mode, symlinks, the
workspace jail, the recorded hashes) is reported, never acted on
(E/FS_PERMISSIONS, 71). While another lanser process applies an edit to the
workspace nothing is rolled back (E/APPLY_CONFLICT, 70: try again).

\b
Examples:
  lanser -w . recover""",
)
@click.pass_obj
def recover(settings: Settings) -> None:
    from lanser.cli.render import render_json
    from lanser.edits.apply import recover_report
    from lanser.errors import ApplyConflict, FsPermissions, LanserError

    report = recover_report(settings.workspace.resolve())
    error: LanserError | None = None
    if report.busy:
        error = ApplyConflict(
            "another lanser process is applying an edit to this workspace (it holds the "
            "workspace lock); nothing was rolled back, try again when it has finished"
        )
    elif report.rejected:
        error = FsPermissions(
            f"{len(report.rejected)} journal(s) failed a check and were left alone: "
            + "; ".join(r["message"] for r in report.rejected),
            rejected=report.rejected,
            recovered=report.undone,
        )
    notes = [f"{p} inside the workspace is not lanser's journal: ignored, never read" for p in report.ignored]
    if settings.json:
        out: dict[str, object] = {"recovered": report.undone}
        if notes:
            out["ignored"] = report.ignored
        if error is not None:
            out = {"status": "error", "error": error.to_dict(), "meta": {"exit_code": error.exit_code}, **out}
        click.echo(render_json(out))
    else:
        for note in notes:
            click.echo(f"lanser: warning: {note}", err=True)
        if report.undone or error is None:
            click.echo(
                f"rolled back {len(report.undone)} unfinished transaction(s)" if report.undone else "nothing to recover"
            )
        if error is not None:
            click.echo(f"lanser: {error.code}: {error.message}", err=True)
    raise SystemExit(0 if error is None else error.exit_code)


COMMANDS = (prepare_rename, rename, action, recover)
