"""Root file systems for the harness's images: debootstrapped, adjusted, packed for ``docker import``.

The steps every bootstrapped image shares (:mod:`lanser.harness.env.images` names
the recipes): a scratch directory that is unmounted and removed whatever
happens, ``debootstrap`` with a time limit and its log's tail on failure, a
user added to ``/etc/passwd`` and friends, documentation trimmed, the host's
identity and apt's caches dropped, a manifest with the installed package
versions, and the tree packed with numeric owners.  Every error leaves as an
:class:`~lanser.harness.errors.InfrastructureError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lanser.harness.env.apt_sources import deb822_stanzas, read
from lanser.harness.errors import InfrastructureError

__all__ = [
    "add_user",
    "append_line",
    "check_bootstrap_tools",
    "debootstrap",
    "finish",
    "installed",
    "pack",
    "remove",
    "scratch_dir",
    "trim",
    "which",
]

Progress = Callable[[str], None]


def check_bootstrap_tools() -> None:
    missing = [tool for tool in ("debootstrap", "tar") if which(tool) is None]
    if missing:
        raise InfrastructureError(
            f"{' and '.join(missing)} not installed; run ./scripts/docker-up (apt-get install docker.io debootstrap)",
            stage="debootstrap",
        )
    if os.geteuid() != 0:
        raise InfrastructureError(
            "building the base image offline needs root (debootstrap creates device nodes "
            "and files of other owners); run `lanser bench images bootstrap` as root once, "
            "or build harness/images/base/Dockerfile where a registry is reachable",
            stage="debootstrap",
        )


def which(tool: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return shutil.which(tool, path=path)


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary directory removed afterwards, after unmounting anything a
    failed debootstrap left mounted inside it (proc, sys)."""
    try:
        scratch = Path(tempfile.mkdtemp(prefix="lanser-base-"))
    except OSError as exc:
        raise InfrastructureError(f"cannot create a temporary directory: {exc}", stage="bootstrap") from exc
    try:
        yield scratch
    finally:
        _unmount_below(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def _unmount_below(directory: Path) -> None:
    prefix = str(directory.resolve()) + "/"
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    points = [point.replace("\\040", " ") for point in points if (point + "/").startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def debootstrap(
    root: Path, mirror: str, say: Progress, *, suite: str, variant: str, packages: tuple[str, ...], timeout: float
) -> None:
    """``debootstrap --variant=VARIANT --include=PACKAGES SUITE ROOT MIRROR``, its output through ``say``,
    killed after ``timeout`` seconds."""
    command = [
        which("debootstrap") or "debootstrap",
        f"--variant={variant}",
        f"--include={','.join(packages)}",
        "--components=main",
        suite,
        str(root),
        mirror,
    ]
    env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    tail: deque[str] = deque(maxlen=40)
    try:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env
        )
    except OSError as exc:
        raise InfrastructureError(f"cannot run debootstrap: {exc}", stage="debootstrap") from exc
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            say(f"debootstrap: {line}")
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        debootstrap_log = root / "debootstrap" / "debootstrap.log"
        if debootstrap_log.is_file():
            tail.extend(read(debootstrap_log).splitlines()[-20:])
        reason = f"timed out after {timeout:g} s" if timed_out.is_set() else f"exited with {code}"
        raise InfrastructureError(
            f"debootstrap {suite} from {mirror} {reason}", stage="debootstrap", log_tail="\n".join(tail)
        )


def add_user(root: Path, name: str, uid: int, gid: int, home: str, workdir: str) -> None:
    """The user ``name`` (passwd, group, shadow, gshadow), its home from ``/etc/skel`` and the work
    area, both owned by it and mode 0755."""
    etc = root / "etc"
    append_line(etc / "passwd", f"{name}:x:{uid}:{gid}:lanser {name}:{home}:/bin/bash")
    append_line(etc / "group", f"{name}:x:{gid}:")
    append_line(etc / "shadow", f"{name}:*:19000:0:99999:7:::")
    append_line(etc / "gshadow", f"{name}:*::")
    home_dir = root / home.lstrip("/")
    if not home_dir.exists():
        skel = etc / "skel"
        if skel.is_dir():
            shutil.copytree(skel, home_dir, symlinks=True)
        else:
            home_dir.mkdir(parents=True)
    work = root / workdir.lstrip("/")
    work.mkdir(parents=True, exist_ok=True)
    for path in [home_dir, *home_dir.rglob("*"), work]:
        os.lchown(path, uid, gid)
    home_dir.chmod(0o755)
    work.chmod(0o755)


def trim(root: Path, excludes: tuple[str, ...], dpkg_cfg_name: str) -> None:
    """Remove what is below each of ``excludes`` (copyright files of ``usr/share/doc`` stay) and tell
    dpkg to leave it out of later installs too (``etc/dpkg/dpkg.cfg.d/<dpkg_cfg_name>``)."""
    for rel in excludes:
        top = root / rel
        if not top.is_dir():
            continue
        for entry in top.iterdir():
            copyright_file = entry / "copyright"
            if rel == "usr/share/doc" and entry.is_dir() and not entry.is_symlink() and copyright_file.is_file():
                for inner in entry.iterdir():
                    if inner.name != "copyright":
                        remove(inner)
            else:
                remove(entry)
    dpkg_cfg = root / "etc/dpkg/dpkg.cfg.d" / dpkg_cfg_name
    dpkg_cfg.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"path-exclude /{rel}/*" for rel in excludes] + ["path-include /usr/share/doc/*/copyright"]
    dpkg_cfg.write_text("\n".join(lines) + "\n")


def finish(root: Path, manifest_path: str, record: dict[str, Any]) -> None:
    """What every bootstrapped root file system ends with: the host's hostname and
    resolv.conf (debootstrap copies them; Docker mounts its own) and apt's caches
    gone, and the manifest (``record`` plus the installed package versions) written."""
    etc = root / "etc"
    (etc / "hostname").write_text("lanser\n")
    resolv = etc / "resolv.conf"
    if resolv.is_file() or resolv.is_symlink():
        resolv.unlink()
    resolv.write_text("")
    for cache in (root / "var/cache/apt/archives", root / "var/lib/apt/lists"):
        if cache.is_dir():
            for entry in cache.iterdir():
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()
    manifest = root / manifest_path
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({**record, "installed": installed(root)}, indent=2, sort_keys=True) + "\n")


def append_line(path: Path, line: str) -> None:
    """Append ``line`` (``name:...``) unless an entry of that name is there; the file's mode is kept."""
    name = line.split(":", 1)[0] + ":"
    text = path.read_text() if path.exists() else ""
    if any(existing.startswith(name) for existing in text.splitlines()):
        return
    if text and not text.endswith("\n"):
        text += "\n"
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    path.write_text(text + line + "\n")
    path.chmod(mode)


def installed(root: Path) -> dict[str, str]:
    """Package -> version installed in ``root`` (dpkg's status file)."""
    packages: dict[str, str] = {}
    for stanza in deb822_stanzas(read(root / "var/lib/dpkg/status")):
        if stanza.get("status", "").endswith(" installed") and "package" in stanza:
            packages[stanza["package"]] = stanza.get("version", "")
    return packages


def pack(root: Path, tarball: Path) -> None:
    """``root`` as a tarball with numeric owners (what ``docker import`` reads)."""
    try:
        result = subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise InfrastructureError(f"cannot run tar: {exc}", stage="import") from exc
    if result.returncode != 0:
        raise InfrastructureError(
            f"tar exited with {result.returncode}", stage="import", log_tail=result.stderr[-4000:]
        )


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
