"""Files and folders that a process writes before publishing them under their final name.

Their names say whose they are (host and process id), so that when a process is killed outright
(``kill -9``, the out-of-memory killer) and cannot clean up, the next one to write in the same
place can tell its leftovers from the work in progress of a process that is still running.
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["OWNER_PATTERN", "owner_tag", "abandoned"]

OWNER_PATTERN = r"(?P<host>.+)-(?P<pid>\d+)"  # what owner_tag() writes, as a regex
_WINDOWS_GRACE_S = 24 * 3600  # where a process cannot be looked up, leftovers a day old go


def owner_tag() -> str:
    """``"<host>-<pid>"`` of this process, for the name of a temporary file or folder."""
    return f"{socket.gethostname()}-{os.getpid()}"


def abandoned(host: str, pid: int, path: os.PathLike | str) -> bool:
    """Whether the temporary ``path`` written by process ``pid`` on ``host`` is a leftover.

    Only this host's processes can be checked: a leftover of another machine sharing the folder
    is never taken for one. On Windows, where signal 0 would terminate the process instead of
    probing it, a leftover is one untouched for a day.
    """
    if host != socket.gethostname():
        return False
    if os.name == "nt":
        try:
            return time.time() - os.stat(path).st_mtime > _WINDOWS_GRACE_S
        except OSError:
            return False
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False
