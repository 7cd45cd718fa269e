"""Assignments with points, the roster join, and the gradebook files Canvas and Moodle import.

No sandbox here: the grades are written with the grader's own table writer from rows made up
for the purpose, so these tests take a second or two.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest

from coursegrader.__main__ import main
from coursegrader.grade import GradeRow
from coursegrader.gradebook import export, read_grades
from coursegrader.points import (
    Assignment,
    AssignmentError,
    ExercisePoints,
    default_assignment,
    load_assignment,
    score,
    write_assignment,
)
from coursegrader.report import write_table
from coursegrader.roster import RosterError, Student, match_submissions, read_roster

ROOT = Path(__file__).resolve().parent.parent
CHAPTER1 = ROOT / "chapters" / "01_autoencoders.ipynb"
LABELS = ["ex-ae-holes", "ex-ae-loss", "ex-ae-latent-size"]
CHAPTER1_LABELS = [*LABELS, "ex-ae-sampler"]  # the chapter's exercises; the tables below grade the first three


def _assignment() -> Assignment:
    return Assignment("01_autoencoders", "01 Autoencoders", [
        ExercisePoints("ex-ae-holes", "Why the holes?", "★☆☆", 1),
        ExercisePoints("ex-ae-loss", "The reconstruction loss", "★☆☆", 2, partial=0.5),
        ExercisePoints("ex-ae-latent-size", "How much does a bigger code help?", "★★☆", 3)])


def _graded(folder: Path, labels: list[str] = LABELS) -> Path:
    """A graded class: the first three exercises as below; any further label passed by 1001 only."""
    more = labels[len(LABELS):]
    rows = [
        GradeRow("1001.ipynb", results=dict.fromkeys(labels, "pass"),
                 messages=dict.fromkeys(labels, "right")),
        GradeRow("hw1_ana.lopez.ipynb", status="errors",
                 results={"ex-ae-holes": "pass", "ex-ae-loss": "fail", "ex-ae-latent-size": "error",
                          **dict.fromkeys(more, "fail")},
                 messages={"ex-ae-holes": "right", "ex-ae-loss": "sum over pixels; then the batch mean",
                           "ex-ae-latent-size": "NameError: name 'errors' is not defined"}),
        GradeRow("stranger.ipynb", status="stubs left", results=dict.fromkeys(labels, "error")),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    write_table(rows, labels, folder / "grades.csv")
    return folder / "grades.csv"


def _roster(path: Path) -> Path:
    path.write_text("Student ID,Name,Email,Section\n"
                    "1001,Bo Chen,bo@uni.example,A\n"
                    "1002,Ana Lopez,ana.lopez@uni.example,B\n"
                    "1003,Cy Diaz,cy@uni.example,A\n", encoding="utf-8")
    return path


def _csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_default_points_follow_the_difficulty_marks_and_the_file_round_trips(tmp_path):
    made = default_assignment(CHAPTER1)
    assert made.chapter == "01_autoencoders" and made.name == "Chapter 1: Autoencoders"
    assert made.labels == CHAPTER1_LABELS
    assert [e.difficulty for e in made.exercises] == ["★☆☆", "★☆☆", "★★☆", "★★★"]
    assert [e.points for e in made.exercises] == [1, 1, 2, 3] and made.max_points == 7
    path = write_assignment(made, tmp_path / "01_autoencoders.toml")
    assert load_assignment(path, CHAPTER1_LABELS) == made
    with pytest.raises(FileExistsError, match="--force"):
        write_assignment(made, path)  # the instructor's edits are never overwritten silently
    edited = path.read_text(encoding="utf-8").replace("points = 2", "points = 5").replace(
        "partial = 0", "partial = 0.25", 1)
    path.write_text(edited, encoding="utf-8")
    again = load_assignment(path, CHAPTER1_LABELS)
    assert again.max_points == 10 and again.exercises[0].partial == 0.25


@pytest.mark.parametrize("change, words", [
    (("ex-ae-holes", "ex-nope"), "ex-nope is not an exercise"),
    (("points = 1", "points = -1"), "points must be >= 0"),
    (("partial = 0", "partial = 2"), "partial in \\[0, 1\\]"),
    (("points = 1", "points = \"one\""), "are numbers"),
])
def test_a_bad_assignment_file_says_what_is_wrong(tmp_path, change, words):
    path = write_assignment(default_assignment(CHAPTER1), tmp_path / "a.toml")
    path.write_text(path.read_text(encoding="utf-8").replace(*change, 1), encoding="utf-8")
    with pytest.raises(AssignmentError, match=words):
        load_assignment(path, CHAPTER1_LABELS)


def test_points_with_partial_credit():
    plan = _assignment()
    full = score(GradeRow("a", results=dict.fromkeys(LABELS, "pass")), plan)
    assert (full.total, full.max_points) == (6, 6)
    half = score(GradeRow("b", results={"ex-ae-holes": "pass", "ex-ae-loss": "fail",
                                        "ex-ae-latent-size": "error"}), plan)
    assert half.per_exercise == {"ex-ae-holes": 1, "ex-ae-loss": 1.0, "ex-ae-latent-size": 0}
    assert half.total == 2
    assert score(GradeRow("c"), plan).total == 0  # nothing graded: "not run" everywhere


def test_the_roster_matches_files_by_column_id_or_email(tmp_path):
    students = read_roster(_roster(tmp_path / "roster.csv"))
    assert [s.id for s in students] == ["1001", "1002", "1003"] and students[1].section == "B"
    matching = match_submissions(students, ["1001.ipynb", "hw1_ana.lopez.ipynb", "stranger.ipynb"])
    assert {k: v.id for k, v in matching.by_submission.items()} == {"1001.ipynb": "1001",
                                                                    "hw1_ana.lopez.ipynb": "1002"}
    assert "matches no student" in matching.unmatched["stranger.ipynb"]
    assert [s.id for s in matching.missing] == ["1003"]
    two = match_submissions(students, ["1001.ipynb", "1001_v2.ipynb"])  # never guess between files
    assert not two.by_submission and set(two.unmatched) == {"1001.ipynb", "1001_v2.ipynb"}
    named = match_submissions([Student("7", submission="whatever.ipynb")], ["whatever.ipynb"])
    assert named.by_submission["whatever.ipynb"].id == "7"


def test_a_canvas_export_serves_as_the_roster(tmp_path):
    path = tmp_path / "canvas.csv"
    path.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (123)\n"
                    "    Points Possible,,,,,10\n"
                    "\"Chen, Bo\",501,1001,bchen,A,9\n", encoding="utf-8")
    (s,) = read_roster(path)
    assert (s.id, s.canvas_id, s.sis_login_id, s.name, s.section) == ("1001", "501", "bchen", "Chen, Bo", "A")
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email\nBo,bo@x\n", encoding="utf-8")
    with pytest.raises(RosterError, match="no student id column"):
        read_roster(bad)


def test_the_canvas_file_has_canvas_columns(tmp_path):
    grades = _graded(tmp_path / "class")
    students = read_roster(_roster(tmp_path / "roster.csv"))
    done = export(grades, _assignment(), students, "canvas", tmp_path / "canvas.csv", per_exercise=True)
    rows = _csv(done.path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01 Autoencoders",
                       "01 Autoencoders: ex-ae-holes", "01 Autoencoders: ex-ae-loss",
                       "01 Autoencoders: ex-ae-latent-size"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "6", "1", "2", "3"]
    assert rows[2] == ["Bo Chen", "", "1001", "", "A", "6", "1", "2", "3"]
    assert rows[3] == ["Ana Lopez", "", "1002", "", "B", "2", "1", "1", "0"]
    assert rows[4] == ["Cy Diaz", "", "1003", "", "A", "", "", "", ""]  # no submission: left as it was
    assert len(rows) == 5 and any("stranger.ipynb" in n for n in done.notes)
    plain = _csv(export(grades, _assignment(), students, "canvas", tmp_path / "c2.csv",
                        missing_zero=True).path)
    assert plain[0][5:] == ["01 Autoencoders"] and plain[4][5:] == ["0"]


def test_the_moodle_file_has_an_identifier_grades_and_feedback(tmp_path):
    grades = _graded(tmp_path / "class")
    students = read_roster(_roster(tmp_path / "roster.csv"))
    rows = _csv(export(grades, _assignment(), students, "moodle", tmp_path / "moodle.csv").path)
    assert rows[0] == ["Email address", "ID number", "Full name", "01 Autoencoders",
                       "01 Autoencoders: ex-ae-holes", "01 Autoencoders: ex-ae-loss",
                       "01 Autoencoders: ex-ae-latent-size", "Feedback"]
    assert rows[1][:7] == ["bo@uni.example", "1001", "Bo Chen", "6", "1", "2", "3"]
    assert "feedback/1001.md" in rows[1][7] and "To look at" not in rows[1][7]
    ana = rows[2]
    assert ana[:7] == ["ana.lopez@uni.example", "1002", "Ana Lopez", "2", "1", "1", "0"]
    assert "feedback/hw1_ana.lopez.md" in ana[7] and "sum over pixels; then the batch mean" in ana[7]
    assert rows[3][3] == "" and rows[3][7] == "no submission"


def test_the_long_table_has_a_row_per_student_and_exercise(tmp_path):
    grades = _graded(tmp_path / "class")
    students = read_roster(_roster(tmp_path / "roster.csv"))
    rows = _csv(export(grades, _assignment(), students, "long", tmp_path / "long.csv").path)
    assert rows[0] == ["student_id", "name", "email", "submission", "status", "exercise", "title",
                       "verdict", "points", "max_points", "hint", "feedback_file"]
    assert len(rows) == 1 + 3 * 3
    loss = next(r for r in rows if r[0] == "1002" and r[5] == "ex-ae-loss")
    assert loss[7:] == ["fail", "1", "2", "sum over pixels; then the batch mean", "feedback/hw1_ana.lopez.md"]
    assert {r[7] for r in rows if r[0] == "1003"} == {"no submission"}


def test_reading_the_table_alone_splits_the_hints(tmp_path):
    """Without the grader's kept rows (a copied grades.csv) the messages come from the table."""
    grades = _graded(tmp_path / "class")
    (ana,) = [r for r in read_grades(grades) if r.submission == "hw1_ana.lopez.ipynb"]
    assert ana.results["ex-ae-latent-size"] == "error"
    assert ana.messages["ex-ae-loss"] == "sum over pixels; then the batch mean"


def test_the_commands_write_the_files(tmp_path, capsys):
    grades = _graded(tmp_path / "class", CHAPTER1_LABELS)
    roster = _roster(tmp_path / "roster.csv")

    def run(*args):  # in this process: a new interpreter per command would take seconds each
        status = main(list(args))
        out = capsys.readouterr()
        return SimpleNamespace(returncode=status, stdout=out.out, stderr=out.err)

    made = run("assignment", "--chapter", str(CHAPTER1), "--out", str(tmp_path / "assignments"))
    assert made.returncode == 0 and "4 exercises, 7 points" in made.stdout, made.stderr
    again = run("assignment", "--chapter", str(CHAPTER1), "--out", str(tmp_path / "assignments"))
    assert again.returncode == 0 and "kept as it is (--force replaces it)" in again.stdout
    for fmt in ("canvas", "moodle", "long"):
        done = run("export", "--grades", str(grades), "--roster", str(roster), "--assignment",
                   str(tmp_path / "assignments" / "01_autoencoders.toml"), "--format", fmt)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "class" / f"01_autoencoders-{fmt}.csv").is_file()
        assert "note: stranger.ipynb: matches no student" in done.stdout
