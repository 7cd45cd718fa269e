"""The class list, and which submitted file belongs to whom.

A roster is a CSV file with a header row and one row per student. Its columns are recognised by
name (case and spacing ignored), so a Canvas gradebook export or a Moodle participants export
can serve as it is:

========================  ==============================================================
field                     header names accepted
========================  ==============================================================
student id (required)     ``id``, ``student id``, ``student_id``, ``sis user id``, ``id number``
name                      ``name``, ``student``, ``full name``, ``student name``
email                     ``email``, ``email address``
submission                ``submission``, ``file`` (the submitted file's name, when you know it)
canvas id                 ``canvas id`` (Canvas's own user ID, the ``ID`` column of its export)
sis login id              ``sis login id``, ``login``, ``username``
section                   ``section``
========================  ==============================================================

A submitted notebook is matched to a student, in this order, by the roster's ``submission``
column, by a file stem equal to the student id, or by the student id or the email's local part
appearing as a whole word in the file name (``12345_ana.ipynb``, ``hw1-ana.lopez.ipynb``). A file
that matches no student, or more than one, is reported and left out of the exports.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Student", "read_roster", "match_submissions", "RosterError", "Matching"]

_ALIASES = {
    "id": ("id", "studentid", "student_id", "sisuserid", "idnumber", "studentnumber"),
    "name": ("name", "student", "fullname", "studentname"),
    "email": ("email", "emailaddress", "mail"),
    "submission": ("submission", "file", "filename"),
    "canvas_id": ("canvasid",),
    "sis_login_id": ("sisloginid", "login", "username"),
    "section": ("section",),
}


class RosterError(ValueError):
    """A roster without a student id column, or with an id twice."""


@dataclass
class Student:
    id: str
    name: str = ""
    email: str = ""
    submission: str = ""
    canvas_id: str = ""
    sis_login_id: str = ""
    section: str = ""


@dataclass
class Matching:
    """``by_submission``: file name -> student; ``unmatched``: files of no (or several) students;
    ``missing``: students without a submission."""

    by_submission: dict[str, Student] = field(default_factory=dict)
    unmatched: dict[str, str] = field(default_factory=dict)
    missing: list[Student] = field(default_factory=list)


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]", "", header.strip().lower())


def read_roster(path: str | Path) -> list[Student]:
    """Read a roster CSV (see the module's docstring for the columns)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        headers = reader.fieldnames or []
        keys = {_key(h): h for h in reversed(headers)}  # the first header of a name wins
        columns = {}
        for field_name, aliases in _ALIASES.items():
            found = next((keys[a] for a in aliases if a in keys), None)
            if found is not None:
                columns[field_name] = found
        if "sisuserid" in keys and "id" in keys:  # a Canvas export: "ID" is Canvas's own user id
            columns["id"], columns["canvas_id"] = keys["sisuserid"], keys["id"]
        if "id" not in columns:
            raise RosterError(f"{path}: no student id column (one of: id, student id, SIS User ID, "
                              f"ID number); its columns are {', '.join(headers)}")
        students, seen = [], set()
        for row in reader:
            values = {k: (row.get(h) or "").strip() for k, h in columns.items()}
            if not values["id"] or "points possible" in (values["id"].lower(), values.get("name", "").lower()):
                continue  # a blank line, or the second row of a Canvas export
            if values["id"] in seen:
                raise RosterError(f"{path}: student id {values['id']} appears twice")
            seen.add(values["id"])
            students.append(Student(**values))
    return students


def _words(name: str) -> set[str]:
    stem = Path(name).stem.lower()
    return set(re.split(r"[^0-9a-z@.]+", stem)) | set(re.split(r"[^0-9a-z]+", stem)) | {stem}


def match_submissions(students: list[Student], submissions: list[str]) -> Matching:
    """Match submitted file names to students (see the module's docstring for the rules)."""
    result = Matching()
    by_file = {s.submission: s for s in students if s.submission}
    for name in submissions:
        if name in by_file:
            result.by_submission[name] = by_file[name]
            continue
        stem = Path(name).stem.lower()
        exact = [s for s in students if s.id.lower() == stem]
        if len(exact) == 1:
            result.by_submission[name] = exact[0]
            continue
        words = _words(name)
        found = [s for s in students if s.id.lower() in words
                 or (s.email and s.email.split("@")[0].lower() in words)]
        if len(found) == 1:
            result.by_submission[name] = found[0]
        else:
            result.unmatched[name] = ("matches no student of the roster" if not found else
                                      f"matches {len(found)} students: {', '.join(s.id for s in found)}")
    owners: dict[str, list[str]] = {}
    for name, s in result.by_submission.items():
        owners.setdefault(s.id, []).append(name)
    for sid, names in owners.items():
        if len(names) > 1:  # two files for one student: neither is guessed
            for name in names:
                del result.by_submission[name]
                result.unmatched[name] = f"one of {len(names)} files of student {sid}"
    taken = {s.id for s in result.by_submission.values()}
    result.missing = [s for s in students if s.id not in taken]
    return result
