"""Start JupyterLab on the learner's own copies of the chapters (what `make lab` runs).

    python tools/lab.py                 # copy the chapters once, then start JupyterLab on the copies
    python tools/lab.py --prepare-only  # the same without starting JupyterLab
    python tools/lab.py --update 04_vae # replace one copy with the current chapter, after asking

Why copies: the chapters in `chapters/` belong to git. A learner runs them, edits cells and
answers exercises, and JupyterLab's autosave writes all of it (outputs included, megabytes) back
into the file; the next `git pull` that changes the chapter then stops on a conflict, or a
stripping filter silently drops the learner's outputs. So the learner works in `my-chapters/`, a
folder git ignores: each chapter is copied there the first time and never overwritten without
asking, and `git pull` always works. When a pull changes a chapter that already has a copy, this
script says so and `--update` fetches it (the old copy is kept next to it).

It also switches on JupyterLab's "save widget state" for this Python environment (an
`overrides.json` next to JupyterLab), so a reopened chapter shows its explorers and progress bars
as they were left instead of "Error displaying widget: model not found".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
COPIES = ROOT / "my-chapters"
RECORD = ".copied-from.json"  # chapter name -> hash of the chapter the copy was made from
SAVE_WIDGET_STATE = {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(folder: Path) -> dict[str, str]:
    path = folder / RECORD
    return json.loads(path.read_text()) if path.exists() else {}


def make_copies(chapters: Path = CHAPTERS, folder: Path = COPIES) -> tuple[list[str], list[str]]:
    """Copy every chapter that has no copy yet; never touch an existing copy.

    Returns:
        (the chapters copied now, the chapters whose copy predates a change of the chapter).
    """
    folder.mkdir(exist_ok=True)
    record = _record(folder)
    copied, changed = [], []
    for source in sorted(chapters.glob("*.ipynb")):
        target = folder / source.name
        if not target.exists():
            target.write_bytes(source.read_bytes())
            record[source.name] = _digest(source)
            copied.append(source.name)
        elif record.get(source.name) not in (None, _digest(source)):
            changed.append(source.name)
    (folder / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return copied, changed


def update_copy(name: str, chapters: Path = CHAPTERS, folder: Path = COPIES, *, ask=input) -> Path | None:
    """Replace the copy of chapter ``name`` with the current chapter, after asking.

    The old copy is renamed, never deleted. Returns where it went, or None when the answer was no.
    """
    name = name if name.endswith(".ipynb") else f"{name}.ipynb"
    source, target = chapters / name, folder / name
    if not source.exists():
        raise SystemExit(f"There is no chapter {name} in {chapters}; the chapters are: "
                         + ", ".join(p.stem for p in sorted(chapters.glob('*.ipynb'))))
    if target.exists():
        answer = ask(f"Replace your copy {target} with the current chapter? "
                     "Your copy is kept under another name. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return None
        n = 1
        while (kept := folder / f"{target.stem}.old-{n}.ipynb").exists():
            n += 1
        target.rename(kept)
    else:
        kept = target
    folder.mkdir(exist_ok=True)
    target.write_bytes(source.read_bytes())
    record = _record(folder)
    record[name] = _digest(source)
    (folder / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return kept


def settings_overrides_path() -> Path:
    """JupyterLab's overrides.json for the running Python environment (as JupyterLab finds it)."""
    app_dir = os.environ.get("JUPYTERLAB_DIR") or Path(sysconfig.get_path("data")) / "share" / "jupyter" / "lab"
    return Path(app_dir) / "settings" / "overrides.json"


def save_widget_state(path: Path | None = None) -> bool:
    """Merge "save widget state" into JupyterLab's overrides; False when the file is not writable."""
    path = path or settings_overrides_path()
    overrides = json.loads(path.read_text()) if path.exists() else {}
    for plugin, values in SAVE_WIDGET_STATE.items():
        overrides.setdefault(plugin, {}).update(values)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(overrides, indent=2) + "\n")
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare-only", action="store_true", help="make the copies, do not start JupyterLab")
    parser.add_argument("--update", metavar="CHAPTER", help="replace your copy of CHAPTER, after asking")
    args, lab_args = parser.parse_known_args(argv)
    if args.update:
        kept = update_copy(args.update)
        print("Nothing changed." if kept is None else f"Updated; your previous copy is {kept}.")
        return 0
    copied, changed = make_copies()
    if copied:
        print(f"Copied {len(copied)} chapter(s) into {COPIES}: {', '.join(copied)}")
    for name in changed:
        print(f"chapters/{name} has changed since your copy was made; your copy is kept. "
              f"For the new version: python tools/lab.py --update {Path(name).stem}")
    if not save_widget_state():
        print(f"Could not write {settings_overrides_path()}: a reopened chapter will show its "
              "explorers only after you run it again (or turn on Settings > Save Widget State Automatically).")
    if args.prepare_only:
        return 0
    return subprocess.call([sys.executable, "-m", "jupyterlab", str(COPIES), *lab_args])


if __name__ == "__main__":
    sys.exit(main())
