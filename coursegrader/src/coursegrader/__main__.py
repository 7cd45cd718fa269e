"""Command line: ``python -m coursegrader {student,solved,grade,plan,assignment,export,...} ...``
(see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .batch import grade_folder
from .chapter import load_chapter
from .gradebook import FORMATS, export, read_grades
from .platforms import PLATFORM_COMMANDS, add_platform_commands
from .points import default_assignment, load_assignment, write_assignment
from .private import PrivateExerciseError
from .roster import read_roster
from .sandbox import Limits
from .student import write_solved_copies, write_student_versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursegrader",
                                     description="Student versions of the chapters, and grading a class.")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student version of every chapter")
    student.add_argument("--chapters", type=Path, default=Path("chapters"))
    student.add_argument("--out", type=Path, default=Path("student"))
    student.add_argument("--private", type=Path, default=None,
                         help="a folder of private exercises to append (see the instructor guide)")
    solved = sub.add_parser("solved", help="write copies of a chapter's reference solution as "
                            "submissions, to try the grader on (e.g. to time it)")
    solved.add_argument("--chapter", type=Path, required=True)
    solved.add_argument("--copies", type=int, default=20)
    solved.add_argument("--out", type=Path, required=True)
    solved.add_argument("--private", type=Path, default=None)
    plan = sub.add_parser("plan", help="say how each exercise of a chapter is graded")
    plan.add_argument("--chapter", type=Path, required=True)
    plan.add_argument("--private", type=Path, default=None)
    grade = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument("submissions", type=Path, help="folder of submitted .ipynb files")
    grade.add_argument("--chapter", type=Path, required=True,
                       help="the reference chapter notebook, e.g. chapters/01_autoencoders.ipynb")
    grade.add_argument("--jobs", type=int, default=None,
                       help="submissions graded side by side (default: the CPUs)")
    grade.add_argument("--threads", type=int, default=None,
                       help="compute threads per submission (default: CPUs / jobs)")
    grade.add_argument("--resume", action="store_true",
                       help="keep the grades of an earlier run for unchanged submissions")
    grade.add_argument("--only", nargs="+", metavar="FILE", default=None,
                       help="(re)grade only these submissions, keeping every other grade")
    grade.add_argument("--full", action="store_true",
                       help="run every cell of every submission (default: the fast path, which runs "
                       "the exercise cells on the reference chapter's state)")
    grade.add_argument("--private", type=Path, default=None, help="a folder of private exercises")
    grade.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell")
    grade.add_argument("--timeout", type=int, default=1800, help="seconds per notebook")
    grade.add_argument("--out", type=Path, default=None,
                       help="folder for grades.csv, feedback/ and the grader's state (default: SUBMISSIONS)")
    grade.add_argument("--csv", type=Path, default=None, help="default: OUT/grades.csv")
    grade.add_argument("--memory-gb", type=float, default=8.0, help="address space per process, GiB")
    grade.add_argument("--processes", type=int, default=512,
                       help="processes and threads one submission may run at once")
    grade.add_argument("--isolation", choices=("sandbox", "uid"), default="sandbox",
                       help="sandbox: bubblewrap (default); uid: no bubblewrap, each submission as a "
                       "fresh unprivileged user (a container without user namespaces; needs root)")
    grade.add_argument("--trusted", action="store_true",
                       help="grade without a sandbox (only for code you trust; labelled in the table)")
    assignment = sub.add_parser("assignment", help="write the points file of a chapter's exercises "
                                "(defaults from each exercise's difficulty; edit it afterwards)")
    assignment.add_argument("--chapter", type=Path, nargs="+", required=True)
    assignment.add_argument("--out", type=Path, default=Path("assignments"),
                            help="folder for NN_name.toml (default: assignments)")
    assignment.add_argument("--private", type=Path, default=None)
    assignment.add_argument("--force", action="store_true", help="replace an existing file")
    exporter = sub.add_parser("export", help="write a gradebook CSV (Canvas, Moodle, or the long table)")
    exporter.add_argument("--grades", type=Path, required=True, help="the grades.csv of a graded folder")
    exporter.add_argument("--roster", type=Path, required=True, help="the class list (CSV)")
    exporter.add_argument("--assignment", type=Path, required=True, help="the chapter's points file (TOML)")
    exporter.add_argument("--format", choices=FORMATS, required=True)
    exporter.add_argument("--out", type=Path, default=None, help="default: beside grades.csv, "
                        "NN_name-FORMAT.csv")
    exporter.add_argument("--per-exercise", action="store_true",
                        help="Canvas: a column per exercise besides the total")
    exporter.add_argument("--missing-zero", action="store_true",
                        help="0 for students without a submission (default: an empty cell)")
    add_platform_commands(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "student":
            write_student_versions(args.chapters, args.out, private=args.private)
        elif args.command == "solved":
            write_solved_copies(args.chapter, args.out, args.copies, private=args.private)
        elif args.command == "assignment":
            for chapter in args.chapter:
                made = default_assignment(chapter, args.private)
                try:
                    path = write_assignment(made, args.out / f"{made.chapter}.toml", overwrite=args.force)
                except FileExistsError:  # it may hold the instructor's edits
                    print(f"{args.out / f'{made.chapter}.toml'}: kept as it is (--force replaces it)")
                    continue
                print(f"{path}: {len(made.exercises)} exercises, {made.max_points:g} points")
        elif args.command == "export":
            rows = read_grades(args.grades)
            labels = sorted({label for r in rows for label in r.results})
            plan = load_assignment(args.assignment, labels or None)
            out = args.out or args.grades.parent / f"{plan.chapter}-{args.format}.csv"
            done = export(args.grades, plan, read_roster(args.roster), args.format, out,
                          per_exercise=args.per_exercise, missing_zero=args.missing_zero)
            print(f"{done.path}: {done.rows} students, {len(done.matching.by_submission)} with a submission")
            for note in done.notes:
                print(f"  note: {note}")
        elif args.command in PLATFORM_COMMANDS:
            return PLATFORM_COMMANDS[args.command](args)
        elif args.command == "plan":
            chapter = load_chapter(args.chapter, args.private)
            for p in chapter.plan():
                uses = f" (uses {', '.join(p.uses)})" if p.uses else ""
                print(f"{p.label}: {p.kind}{uses}")
        else:
            if args.jobs is not None and args.jobs < 1:
                raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
            limits = Limits(memory_bytes=int(args.memory_gb * (1 << 30)), processes=args.processes)
            grade_folder(args.submissions, args.chapter, cell_timeout=args.cell_timeout,
                         total_timeout=args.timeout, csv_path=args.csv, out=args.out,
                         trusted=args.trusted, limits=limits, jobs=args.jobs, threads=args.threads,
                         resume=args.resume, only=args.only, fast=not args.full, private=args.private,
                         isolation=args.isolation)
    except (ValueError, PrivateExerciseError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
