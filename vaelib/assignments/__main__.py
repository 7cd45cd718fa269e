"""Command line: ``python -m vaelib.assignments {student,grade} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .grade import grade_folder
from .student import write_student_versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.assignments",
                                     description="Student versions of the chapters, and grading.")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student version of every chapter")
    student.add_argument("--chapters", type=Path, default=Path("chapters"))
    student.add_argument("--out", type=Path, default=Path("student"))
    grade = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument("submissions", type=Path, help="folder of submitted .ipynb files")
    grade.add_argument("--chapter", type=Path, required=True,
                       help="the reference chapter notebook, e.g. chapters/01_autoencoders.ipynb")
    grade.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell")
    grade.add_argument("--timeout", type=int, default=1800, help="seconds per notebook")
    grade.add_argument("--csv", type=Path, default=None, help="default: SUBMISSIONS/grades.csv")
    args = parser.parse_args(argv)
    try:
        if args.command == "student":
            write_student_versions(args.chapters, args.out)
        else:
            grade_folder(args.submissions, args.chapter, cell_timeout=args.cell_timeout,
                         total_timeout=args.timeout, csv_path=args.csv)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
