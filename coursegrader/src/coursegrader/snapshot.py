"""The fast path's starting point: the reference chapter run once, up to its exercises, and kept.

Most of a chapter's time goes to training the models its text discusses; its exercises come at
the end and mostly call the learner's functions on fresh inputs. The fast path therefore runs the
reference chapter's cells before the first exercise once (in the same sandbox as a submission),
pickles the namespace they leave (models, data, helper functions) and the files they write, and
then runs only each submission's exercise cells on a copy of that state. An exercise whose
answer is an experiment on the chapter's models (chapter 4's importance sampling, for one) thus
runs on the reference run's models, not on ones the learner trained; the full path (``--full``)
runs every submission from its first cell.

A snapshot is cached in the grading folder under a key of the chapter's code and the package
versions, so a resumed or repeated run reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .sandbox import Limits, free_uid, release_uid, remove_tree, run_runner, work_folder

__all__ = ["Snapshot", "build_snapshot", "SnapshotError"]


class SnapshotError(ValueError):
    """The reference chapter could not be run up to its exercises."""


@dataclass
class Snapshot:
    """A reference run's state: ``folder/state.pkl`` and the files it wrote in ``folder/files``.

    Attributes:
        folder: where it is kept.
        seconds: how long the reference run took.
        peak_mb: its peak resident memory.
        skipped: names of the run that could not be pickled, with why.
    """

    folder: Path
    seconds: float
    peak_mb: float
    skipped: dict[str, str]

    @property
    def state(self) -> Path:
        return self.folder / "state.pkl"

    @property
    def files(self) -> Path:
        return self.folder / "files"


def _key(cells: list[str]) -> str:
    versions = []
    for dist in ("vaelib", "vae-coursegrader", "torch", "numpy", "cloudpickle"):
        try:
            versions.append(metadata.version(dist))
        except metadata.PackageNotFoundError:
            versions.append("-")
    return hashlib.sha256(json.dumps([cells, versions]).encode()).hexdigest()[:16]


def build_snapshot(stem: str, cells: list[str], cache: Path, *, limits: Limits, bwrap: str | None,
                   package_dirs: list[Path], extra_ro: dict[Path, str], threads: int = 0,
                   drop_uid: bool = False, log=print) -> Snapshot:
    """The snapshot of ``cells`` (a chapter's code before its exercises), built or reused.

    Raises:
        SnapshotError: a cell of the reference raised, or the run hit a limit.
    """
    folder = Path(cache) / f"{stem}-{_key(cells)}"
    info_path = folder / "info.json"
    if info_path.is_file() and (folder / "state.pkl").is_file():
        info = json.loads(info_path.read_text())
        return Snapshot(folder, info["seconds"], info["peak_mb"], info["skipped"])
    log(f"running the reference {stem} up to its exercises once, for the fast path "
        f"({len(cells)} cells; reused by later runs)")
    tmp = work_folder("snapshot")
    sandbox = bwrap is not None
    uid = free_uid() if (sandbox or drop_uid) and os.getuid() == 0 else None
    try:
        work, out = tmp / "chapters", tmp / "out"
        work.mkdir()
        out.mkdir()
        spec = tmp / "spec.json"
        spec.write_text(json.dumps({"cells": cells, "probes": [], "cell_timeout": int(limits.cell_s),
                                    "out": "/grade/out" if sandbox else str(out), "uid": uid,
                                    "sandbox": sandbox, "own_uid": uid is not None, "save": True}))
        _open_to(tmp, spec, work, out, uid)
        run = run_runner(spec, work, out, tmp / "log.txt", limits, uid=uid if uid is not None else -1,
                         bwrap=bwrap, package_dirs=package_dirs, extra_ro=extra_ro if sandbox else {},
                         threads=threads)
        results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
        errors = [c for c in results.get("cells", []) if "error" in c]
        if run.ended_by or errors or not (out / "state.pkl").is_file():
            why = (f"cell {errors[0]['cell'] + 1}: {errors[0]['error']}: {errors[0].get('message', '')}"
                   if errors else run.ended_by or run.log_tail[-300:] or "no state written")
            raise SnapshotError(f"the reference {stem} failed before its exercises ({why}); "
                                "grade with --full, or fix the reference")
        staging = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.move(out / "state.pkl", staging / "state.pkl")
        shutil.copytree(work, staging / "files", symlinks=False)
        skipped = results.get("skipped", {})
        peak, cpu = float(results.get("peak_mb", 0.0)), float(results.get("cpu_s", 0.0))
        (staging / "info.json").write_text(json.dumps(
            {"seconds": run.seconds, "cpu_seconds": cpu, "peak_mb": peak, "skipped": skipped}))
        for item in [staging, *staging.rglob("*")]:  # the grader's, readable by every submission's user
            if uid is not None:
                os.lchown(item, os.getuid(), os.getgid())
            item.chmod(0o755 if item.is_dir() else 0o644)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        log(f"reference run of {stem}: {run.seconds:.0f} s ({cpu:.0f} s of CPU), peak {peak:.0f} MiB")
        return Snapshot(folder, run.seconds, peak, skipped)
    finally:
        remove_tree(tmp)
        release_uid(uid)


def _open_to(tmp: Path, spec: Path, work: Path, out: Path, uid: int | None) -> None:
    """Let the sandbox's user reach its folders (it is not the grader's user when root)."""
    os.chmod(tmp, 0o711)
    os.chmod(spec, 0o644)
    if uid is not None:
        for folder in (work, out):
            os.chown(folder, uid, uid)
