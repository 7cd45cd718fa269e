"""Command-line entries of the grading platforms: Gradescope and GitHub Classroom.

    python -m coursegrader gradescope --chapter chapters/01_autoencoders.ipynb --out dist/gradescope
    python -m coursegrader classroom --chapter chapters/01_autoencoders.ipynb --out dist/classroom
    python -m coursegrader classroom-grade --notebook 01_autoencoders.ipynb --chapter ... --assignment ...
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PLATFORM_COMMANDS", "add_platform_commands"]


def _assignment_for(args, chapter: Path) -> Path | None:
    if args.assignments is None:
        return None
    path = args.assignments / f"{chapter.stem}.toml"
    return path if path.is_file() else None


def _gradescope(args) -> int:
    from .gradescope import build_autograder, chapter_needs, needs_text

    settings = {k: v for k, v in (("timeout", args.timeout), ("memory_gb", args.memory_gb),
                                  ("visibility", args.visibility)) if v is not None}
    for chapter in args.chapter:
        out = args.out / f"{chapter.stem}-gradescope.zip"
        build_autograder(chapter, out, repo=args.repo, assignment=_assignment_for(args, chapter),
                         private=args.private, settings=settings)
        print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")
        print("  " + needs_text(chapter.stem, chapter_needs(args.repo, chapter.stem)))
    return 0


def _classroom(args) -> int:
    from .classroom import build_template

    for chapter in args.chapter:
        out = build_template(chapter, args.out / chapter.stem, repo=args.repo,
                             assignment=_assignment_for(args, chapter), url=args.url, tag=args.tag)
        print(f"{out}/ (template repository: push it and pick it as the assignment's template)")
    return 0


def _classroom_grade(args) -> int:
    from .classroom import grade_notebook

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    grade_notebook(args.notebook, args.chapter, args.assignment, github_output=args.github_output,
                   summary=Path(summary) if summary else None, isolation=args.isolation,
                   state=args.state)
    return 0


PLATFORM_COMMANDS = {"gradescope": _gradescope, "classroom": _classroom, "classroom-grade": _classroom_grade}


def add_platform_commands(sub) -> None:
    """Add the platforms' subcommands to the ``python -m coursegrader`` parser."""
    common = {"--chapter": dict(type=Path, nargs="+", required=True),
              "--repo": dict(type=Path, default=Path("."), help="the course checkout (default: .)"),
              "--assignments": dict(type=Path, default=Path("assignments"),
                                    help="folder of points files NN_name.toml (default: assignments; "
                                    "a chapter without one gets the defaults)")}
    gradescope = sub.add_parser("gradescope", help="write a Gradescope autograder zip per chapter")
    classroom = sub.add_parser("classroom", help="write a GitHub Classroom template repository per chapter")
    for parser in (gradescope, classroom):
        for flag, options in common.items():
            parser.add_argument(flag, **options)
    gradescope.add_argument("--out", type=Path, default=Path("dist/gradescope"))
    gradescope.add_argument("--private", type=Path, default=None)
    gradescope.add_argument("--timeout", type=int, default=None, help="seconds per notebook (default 540)")
    gradescope.add_argument("--memory-gb", type=float, default=None, help="address space per process")
    gradescope.add_argument("--visibility", default=None,
                            choices=("visible", "hidden", "after_due_date", "after_published"))
    classroom.add_argument("--out", type=Path, default=Path("dist/classroom"))
    classroom.add_argument("--url", default=None, help="course repository (default: _config.yml's)")
    classroom.add_argument("--tag", default=None, help="tag to install from (default: v<version>)")
    grade = sub.add_parser("classroom-grade", help="(in the Classroom workflow) grade one notebook "
                           "and write the points for the Classroom reporter")
    grade.add_argument("--notebook", type=Path, required=True)
    grade.add_argument("--chapter", type=Path, required=True, help="the reference chapter")
    grade.add_argument("--assignment", type=Path, required=True)
    grade.add_argument("--github-output", type=Path, default=None, help="usually \"$GITHUB_OUTPUT\"")
    grade.add_argument("--state", type=Path, default=None,
                       help="a folder kept between runs (the chapter's reference run is reused)")
    grade.add_argument("--isolation", choices=("trusted", "sandbox", "uid"), default="trusted",
                       help="trusted by default: the student's own repository runs the workflow")
