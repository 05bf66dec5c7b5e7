"""``lanser check`` (a patch, evaluated speculatively) and ``lanser reward`` (r_t offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.nav import format_option
from lanser.cli.render import errors_rendered, render_json

__all__ = ["check", "reward", "trace_rewards"]


@click.command(
    "check",
    help="""Would PATCH help? Evaluate a unified diff without writing it.

The patched files are given to the language server in memory; the bundle
reports the diagnostics that appear and disappear and the process reward
r = 0.5 (D_before - D_after) + 0.4 S - 0.1 (1 - alpha). The files on disk
are not touched unless --apply.

\b
Examples:
  git diff > change.patch && lanser check change.patch
  lanser --json check fix.patch --selector 'py://pkg.shapes#total_area'
  lanser check fix.patch --apply --commit -m 'Fix the report'""",
)
@click.argument("patch", type=click.File("r"))
@click.option("--selector", default=None, help="The step's target (its confidence is the reward's alpha).")
@click.option("--apply", is_flag=True, help="Write the patch (one transaction) after evaluating it.")
@click.option("--allow-dirty", is_flag=True, help="Write even with uncommitted changes in the worktree.")
@click.option("--allow", multiple=True, metavar="GLOB", help="Edit only matching paths (repeatable).")
@click.option("--deny", multiple=True, metavar="GLOB", help="Refuse edits to matching paths (repeatable).")
@click.option("--commit", is_flag=True, help="Record a git commit of the applied patch.")
@click.option("-m", "--message", default=None, help="Commit message (with --commit).")
@format_option()
@click.pass_obj
def check(
    settings: Settings,
    patch: Any,
    selector: str | None,
    apply: bool,
    allow_dirty: bool,
    allow: tuple[str, ...],
    deny: tuple[str, ...],
    commit: bool,
    message: str | None,
    fmt: str | None,
) -> None:
    from lanser.cli.client import client, render_result

    result = client(settings).check(
        patch.read(),
        selector=selector,
        apply=apply,
        allow_dirty=allow_dirty,
        allow=allow,
        deny=deny,
        commit=commit,
        message=message,
    )
    raise SystemExit(render_result(settings, result, fmt))


@click.command(
    "reward",
    help="""The process reward r_t, offline: from two diagnostics bundles, or over a trace.

With BEFORE and AFTER (outputs of `lanser --json diag`): D is counted in
each, S is 1 when AFTER is ok, alpha is AFTER's resolution confidence (1
without one). With --trace: the reward of every bundle of a recorded
session that carries one, recomputed from its components under the
version it recorded (pr-v1 or pr-v2, which the output names) and checked.

\b
Examples:
  lanser reward before.json after.json
  lanser --json reward --trace run.jsonl""",
)
@click.argument("bundles", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trace", "trace_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option(
    "--reward-version",
    default=None,
    help="pr-v1 (Eq. 5.1, the default) or pr-v2 (potential-based, severity-weighted); default from LANSER_REWARD.",
)
@click.pass_obj
@errors_rendered
def reward(settings: Settings, bundles: tuple[Path, ...], trace_path: Path | None, reward_version: str | None) -> None:
    from lanser.reward import reward_between, selected_version

    version = selected_version(reward_version)
    if trace_path is not None:
        rows = trace_rewards(trace_path, reward_version)
        versions: dict[str, int] = {}
        for r in rows:
            versions[r["version"]] = versions.get(r["version"], 0) + 1
        if settings.json:
            click.echo(render_json({"steps": rows, "total": round(sum(r["r"] for r in rows), 9), "versions": versions}))
        else:
            recorded = ", ".join(f"{v} ({n} step{'s' if n != 1 else ''})" for v, n in sorted(versions.items()))
            click.echo(f"recorded: {recorded or 'no process reward'}")
            for r in rows:
                c = r["components"]
                term = (
                    f"Phi {c['phi_prev']}->{c['phi_now']}"
                    if r["version"] == "pr-v2"
                    else f"D {c['d_prev']}->{c['d_now']}"
                )
                click.echo(
                    f"{r['seq']:>4} {r['cmd'] or '':<10} {r['version']} r={r['r']:<8} {term} "
                    f"S={c['safety']} alpha={c['alpha_conf']} {'' if r['consistent'] else 'INCONSISTENT'}"
                )
        raise SystemExit(0 if all(r["consistent"] for r in rows) else 76)
    if len(bundles) != 2:
        raise click.UsageError("give BEFORE and AFTER bundles, or --trace")
    before, after = (json.loads(p.read_text()) for p in bundles)
    result = reward_between(before, after, version=version)  # a LanserError: errors_rendered
    if settings.json:
        click.echo(render_json(result))
    elif result["version"] == "pr-v2":
        c = result["components"]
        click.echo(
            f"r = {result['r']}  (pr-v2: Phi {c['phi_prev']} -> {c['phi_now']}, S {c['safety']}, "
            f"alpha {c['alpha_conf']})"
        )
    else:
        c = result["components"]
        click.echo(f"r = {result['r']}  (D {c['d_prev']} -> {c['d_now']}, S {c['safety']}, alpha {c['alpha_conf']})")


def trace_rewards(path: Path, requested: str | None = None) -> list[dict[str, Any]]:
    """Every recorded process reward of a trace, computed again under the version it recorded (pr-v1
    or pr-v2) and checked.  ``requested`` (an explicit --reward-version): every step must have
    recorded that version (a recorded reward cannot be re-scored under another: pr-v1 keeps counts,
    pr-v2 potentials)."""
    from lanser.errors import BadRequest, ReplayMismatch
    from lanser.reward import VERSION, replay, selected_version
    from lanser.trace import entries

    wanted = selected_version(requested) if requested else None
    rows = []
    for e in entries(path):
        pr = e["bundle"].get("processReward")
        if not pr:
            continue
        try:
            again = replay(pr)
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise ReplayMismatch(
                f"request {e['seq']}: its recorded processReward is malformed ({exc!r})", seq=e["seq"]
            ) from None
        version = pr.get("version", VERSION)
        if wanted is not None and version != wanted:
            raise BadRequest(
                f"request {e['seq']} recorded {version}, not {wanted}: a recorded reward is replayed under "
                "its own version (drop --reward-version)"
            )
        rows.append(
            {
                "seq": e["seq"],
                "cmd": e["cmd"],
                "selector": e["selector"],
                "version": version,
                "r": pr["r"],
                "components": pr["components"],
                "consistent": again["r"] == pr["r"],
            }
        )
    return rows
