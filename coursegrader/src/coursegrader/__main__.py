"""Command line: ``python -m vaelib.assignments {student,grade} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .grade import grade_folder
from .sandbox import Limits
from .student import write_solved_copies, write_student_versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.assignments",
                                     description="Student versions of the chapters, and grading.")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student version of every chapter")
    student.add_argument("--chapters", type=Path, default=Path("chapters"))
    student.add_argument("--out", type=Path, default=Path("student"))
    solved = sub.add_parser("solved", help="write copies of a chapter's reference solution as "
                            "submissions, to try the grader on (e.g. to time it)")
    solved.add_argument("--chapter", type=Path, required=True)
    solved.add_argument("--copies", type=int, default=20)
    solved.add_argument("--out", type=Path, required=True)
    grade = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument("submissions", type=Path, help="folder of submitted .ipynb files")
    grade.add_argument("--chapter", type=Path, required=True,
                       help="the reference chapter notebook, e.g. chapters/01_autoencoders.ipynb")
    grade.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell")
    grade.add_argument("--timeout", type=int, default=1800, help="seconds per notebook")
    grade.add_argument("--csv", type=Path, default=None, help="default: SUBMISSIONS/grades.csv")
    grade.add_argument("--memory-gb", type=float, default=8.0, help="address space per process, GiB")
    grade.add_argument("--processes", type=int, default=512,
                       help="processes and threads one submission may run at once")
    grade.add_argument("--trusted", action="store_true",
                       help="grade without a sandbox (only for code you trust; labelled in the table)")
    args = parser.parse_args(argv)
    try:
        if args.command == "student":
            write_student_versions(args.chapters, args.out)
        elif args.command == "solved":
            write_solved_copies(args.chapter, args.out, args.copies)
        else:
            limits = Limits(memory_bytes=int(args.memory_gb * (1 << 30)), processes=args.processes)
            grade_folder(args.submissions, args.chapter, cell_timeout=args.cell_timeout,
                         total_timeout=args.timeout, csv_path=args.csv, trusted=args.trusted,
                         limits=limits)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
