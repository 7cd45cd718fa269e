"""Command-line entries of the grading platforms (Gradescope, GitHub Classroom)."""

from __future__ import annotations

__all__ = ["PLATFORM_COMMANDS", "add_platform_commands"]

PLATFORM_COMMANDS: dict = {}


def add_platform_commands(sub) -> None:
    """Add the platforms' subcommands to the ``python -m coursegrader`` parser."""
