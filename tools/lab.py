"""Start JupyterLab on the learner's own copies of the chapters (what `make lab` runs).

    python tools/lab.py                 # copy the chapters once, then start JupyterLab on the copies
    python tools/lab.py --prepare-only  # the same without starting JupyterLab
    python tools/lab.py --update 04_vae # replace one copy with the current chapter, after asking
    python tools/lab.py --from student  # a class: copy the student versions (stubs, no solutions)

Why copies: the chapters in `chapters/` belong to git. A learner runs them, edits cells and
answers exercises, and JupyterLab's autosave writes all of it (outputs included, megabytes) back
into the file; the next `git pull` that changes the chapter then stops on a conflict, or a
stripping filter silently drops the learner's outputs. So the learner works in `my-chapters/`, a
folder git ignores: each chapter is copied there the first time and never overwritten without
asking, and `git pull` always works. When a pull changes a chapter that already has a copy, this
script says so and `--update` fetches it (the old copy is kept next to it).

The copies are the chapters as JupyterLab can show them. jupyterlab-myst renders the chapters'
MyST (directives, roles, exercises, solutions, numbered equations) but has neither the book's
bibliography nor its files: a `{cite}` role would show a bare key marked "Citation Not Found" and a
`literalinclude` nothing at all. So in a copy every citation is written out as (Author, year) from
`book/references.bib`, and every `literalinclude` becomes the code it includes, as it was when the
copy was made. A number the text quotes from the run, ``{glue:text}`key:fmt``` in the book
(myst-nb reads it from the executed outputs), becomes ``{eval}`vaelib.prose.text("key", "fmt")```,
which jupyterlab-myst evaluates in the kernel once the cells above it have run.

It also switches on JupyterLab's "save widget state" for this Python environment (an
`overrides.json` next to JupyterLab), so a reopened chapter shows its explorers and progress bars
as they were left instead of "Error displaying widget: model not found". That state has one more
enemy: a reopened notebook saved again before its cells run (by the learner, or by autosave a
couple of minutes after opening) is written with an empty widget state (ipywidgets 8 in
JupyterLab 4, jupyter-widgets/ipywidgets#3888), and the day after its explorers are error boxes.
The JupyterLab started here saves through :func:`keep_widget_state`, which carries over the state
of every widget the notebook still shows from the file it replaces.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
COPIES = ROOT / "my-chapters"
BIBLIOGRAPHY = ROOT / "book" / "references.bib"
RECORD = ".copied-from.json"  # chapter name -> hash of the chapter the copy was made from
SAVE_WIDGET_STATE = {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_MODEL_REFERENCE = re.compile(r"IPY_MODEL_([0-9a-zA-Z_-]+)")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
_GLUE_TEXT = re.compile(r"\{glue:text\}`([A-Za-z_]\w*)(?::([^`]*))?`")
_INCLUDE = re.compile(r"```\{literalinclude\}[ \t]+(\S+)[ \t]*\n((?:[ \t]*:[\w-]+:.*\n)*)```")
_ACCENTS = {"'": "\u0301", '"': "\u0308", "`": "\u0300", "^": "\u0302", "~": "\u0303", "c": "\u0327"}


def _plain(tex: str) -> str:
    """BibTeX text as plain Unicode: {\\'e} -> é, braces dropped."""
    import unicodedata

    for macro, letter in (("o", "ø"), ("O", "Ø"), ("aa", "å"), ("AA", "Å"), ("ss", "ß"), ("l", "ł")):
        tex = re.sub(r"\\" + macro + r"\b\s*", letter, tex)
    text = re.sub(r"\{?\\(['\"`^~c])\s*\{?(\w)\}?\}?",
                  lambda m: unicodedata.normalize("NFC", m.group(2) + _ACCENTS[m.group(1)]), tex)
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def read_bibliography(path: Path = BIBLIOGRAPHY) -> dict[str, str]:
    """BibTeX key -> "Author, year", "Author & Other, year" or "Author et al., year"."""
    entries = {}
    for match in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", path.read_text(encoding="utf-8"), re.S):
        key, body = match.groups()
        fields = dict(re.findall(r"(\w+)\s*=\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}", body))
        names = [_plain(a).split(",")[0].strip() for a in re.split(r"\s+and\s+", fields.get("author", ""))]
        names = [n for n in names if n] or [key]
        who = names[0] if len(names) == 1 else (f"{names[0]} & {names[1]}" if len(names) == 2 else f"{names[0]} et al.")
        entries[key] = f"{who}, {_plain(fields.get('year', 'n.d.'))}"
    return entries


def _included_code(target: str, options: str, base: Path) -> str:
    """The code a `literalinclude` shows: the whole file or the `:pyobject:` it names."""
    path = (base / target).resolve()
    source = path.read_text(encoding="utf-8")
    wanted = dict(re.findall(r":([\w-]+):[ \t]*(.*)", options))
    language = wanted.get("language", "python" if path.suffix == ".py" else "")
    code, where = source, f"`{target.lstrip('./')}`"
    if "pyobject" in wanted:
        nodes = ast.parse(source).body
        for part in wanted["pyobject"].strip().split("."):
            node = next((n for n in nodes if getattr(n, "name", None) == part), None)
            if node is None:
                raise ValueError(f"{path} has no {wanted['pyobject']} (literalinclude :pyobject:)")
            nodes = getattr(node, "body", [])
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        code = textwrap.dedent("\n".join(source.splitlines()[first - 1:node.end_lineno]))
        where = f"`{wanted['pyobject'].strip()}` in {where}"
    return f"{where}:\n\n```{language}\n{code.rstrip()}\n```"


def for_jupyterlab(notebook: dict, base: Path, bibliography: dict[str, str]) -> dict:
    """The notebook with citations written out, included code inlined and glued numbers evaluated
    in the kernel (markdown cells only).

    Args:
        notebook: nbformat JSON, changed in place and returned.
        base: the folder a `literalinclude` path is relative to (the chapter's own folder).
        bibliography: :func:`read_bibliography`.
    """
    def cite(match: re.Match) -> str:
        return "(" + "; ".join(bibliography.get(k.strip(), k.strip()) for k in match.group(1).split(",")) + ")"

    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        new = _INCLUDE.sub(lambda m: _included_code(m.group(1), m.group(2), base), _CITE.sub(cite, text))
        new = _GLUE_TEXT.sub(lambda m: f'{{eval}}`vaelib.prose.text("{m.group(1)}", "{m.group(2) or ""}")`', new)
        if new != text:
            cell["source"] = new.splitlines(keepends=True)
    return notebook


def _copy(source: Path, target: Path) -> None:
    notebook = for_jupyterlab(json.loads(source.read_text(encoding="utf-8")), source.parent,
                              read_bibliography())
    target.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                      encoding="utf-8")


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
            _copy(source, target)
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
    _copy(source, target)
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


def shown_widgets(notebook: dict) -> set[str]:
    """The model ids of the widgets that the notebook's outputs display."""
    return {output["data"][WIDGET_VIEW].get("model_id")
            for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"
            for output in cell.get("outputs", []) if WIDGET_VIEW in (output.get("data") or {})}


def widget_state(notebook: dict) -> dict:
    """The notebook's saved widget state (``{"state": {model_id: ...}, "version_major": ...}``), or {}."""
    state = (notebook.get("metadata") or {}).get("widgets", {}).get(WIDGET_STATE)
    return state if isinstance(state, dict) else {}


def carry_widget_state(new: dict, old: dict) -> list[str]:
    """Copy into ``new`` the saved state, from ``old``, of each widget ``new`` shows but lacks.

    A widget's state names the models it is made of (its sliders, layouts, styles) as
    ``"IPY_MODEL_<id>"``; those are carried with it. Widgets that ``new`` no longer shows are left
    behind, so a cell run again does not drag its old widgets along.

    Returns:
        The ids of the models carried over (empty when nothing was missing).
    """
    saved = widget_state(old).get("state") or {}
    current = widget_state(new)
    present = current.get("state") or {}
    todo = [m for m in shown_widgets(new) if m not in present and m in saved]
    carried: dict[str, dict] = {}
    while todo:
        model_id = todo.pop()
        if model_id in carried or model_id in present or model_id not in saved:
            continue
        carried[model_id] = saved[model_id]
        todo += _MODEL_REFERENCE.findall(json.dumps(saved[model_id]))
    if carried:  # the version fields of the new state win over the old one's
        merged = {**widget_state(old), **current, "state": {**carried, **present}}
        new.setdefault("metadata", {}).setdefault("widgets", {})[WIDGET_STATE] = merged
    return sorted(carried)


def keep_widget_state(model: dict, path: str, contents_manager, **_) -> None:
    """JupyterLab's pre-save hook: a save never drops the state of the widgets a notebook shows.

    Works around jupyter-widgets/ipywidgets#3888 (see the module's docstring): before a notebook is
    written, the state of each displayed widget that the new version lacks is taken from the file
    on disk. Any failure leaves the save as JupyterLab made it.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    try:
        on_disk = Path(contents_manager._get_os_path(path))  # noqa: SLF001 (the file-based managers' own resolver)
        old = json.loads(on_disk.read_text(encoding="utf-8"))
    except (AttributeError, OSError, ValueError):
        return
    carried = carry_widget_state(model["content"], old)
    if carried:
        contents_manager.log.info("kept the saved state of %d widget model(s) in %s", len(carried), path)


def jupyterlab_command(root: Path, *lab_args: str) -> list[str]:
    """The command that starts JupyterLab on ``root`` with :func:`keep_widget_state` as its save hook."""
    launcher = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
                "from jupyterlab.labapp import main; sys.exit(main())")
    return [sys.executable, "-c", launcher, str(root), "--ContentsManager.pre_save_hook=lab.keep_widget_state",
            *lab_args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare-only", action="store_true", help="make the copies, do not start JupyterLab")
    parser.add_argument("--update", metavar="CHAPTER", help="replace your copy of CHAPTER, after asking")
    parser.add_argument("--from", dest="source", type=Path, default=CHAPTERS, metavar="FOLDER",
                        help="where the chapters come from (default: chapters/); in a class, the "
                        "student versions your instructor handed out, e.g. student/")
    args, lab_args = parser.parse_known_args(argv)
    source = args.source if args.source.is_absolute() else Path.cwd() / args.source
    if not any(source.glob("*.ipynb")):
        raise SystemExit(f"There are no notebooks in {source}. In a class, ask your instructor "
                         "for the student versions (they make them with `make student`).")
    if args.update:
        kept = update_copy(args.update, chapters=source)
        print("Nothing changed." if kept is None else f"Updated; your previous copy is {kept}.")
        return 0
    copied, changed = make_copies(source)
    if copied:
        print(f"Copied {len(copied)} chapter(s) into {COPIES}: {', '.join(copied)}")
    for name in changed:
        again = "" if source == CHAPTERS else f" --from {args.source}"
        print(f"{source.name}/{name} has changed since your copy was made; your copy is kept. "
              f"For the new version: python tools/lab.py{again} --update {Path(name).stem}")
    if not save_widget_state():
        print(f"Could not write {settings_overrides_path()}: a reopened chapter will show its "
              "explorers only after you run it again (or turn on Settings > Save Widget State Automatically).")
    if args.prepare_only:
        return 0
    return subprocess.call(jupyterlab_command(COPIES, *lab_args))


if __name__ == "__main__":
    sys.exit(main())
