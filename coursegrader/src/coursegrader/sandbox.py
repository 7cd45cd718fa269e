"""Run one submission's runner in a bubblewrap sandbox (or, when asked to, without one).

The sandbox (``bwrap``, Debian package ``bubblewrap``) gives the submission:

- its own user: as root, bwrap keeps the real uid so that it can bind paths only root can read
  (e.g. a Python under ``/root``), and the runner drops at once to an unprivileged uid used by no
  other process (so ``RLIMIT_NPROC`` counts this submission alone); as another user, bwrap maps
  the caller into a fresh user namespace and the limits are the caller's;
- no network (``--unshare-net``), its own PIDs (``--unshare-pid``; when the sandbox's first
  process dies the kernel kills every process in it), IPC and hostname;
- a read-only view of ``/usr``, the Python installation, the virtual environment and the course
  package, and nothing else of the machine: no repository (so no chapters with their solutions),
  no other submission, no grade table, no home folder; ``/proc`` shows the sandbox's processes only;
- two writable folders: its working folder (a copy of the submission) and the folder the runner
  writes its answers to; a private, size-limited ``/tmp``;
- a scrubbed environment, and limits: address space per process (memory), processes, file size,
  open files, no core dumps; the wall time is enforced from outside by killing the sandbox.

Output goes to a file, never a pipe, so a process that holds its stdout open cannot make the
grader wait.

Where bubblewrap cannot make a sandbox (a Docker container without user namespaces, such as
Gradescope's) but the grader is root, the **uid mode** runs the runner as a plain child process
that drops at once to a fresh unprivileged uid (``run_runner(..., bwrap=None, uid=N)``): the
submission then cannot write any file of root's (the results, the grade table) nor read a file
only root may read (the reference chapter, an instructor's judges), and every process of that
uid is killed when it ends; but it shares the machine's network, process list and file system.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "Run", "find_bwrap", "INSTALL_HINT", "run_runner", "free_uid", "remove_tree"]

INSTALL_HINT = ("bubblewrap (bwrap) is needed to grade in a sandbox: install it with "
                "`sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` "
                "(Fedora) or your system's package manager. To grade without a sandbox anyway, "
                "for a class whose code you trust, pass --trusted.")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission.

    Attributes:
        wall_s: seconds for the whole notebook, enforced from outside.
        cell_s: seconds per cell, enforced by the runner (a hint; ``wall_s`` is the guarantee).
        memory_bytes: address space of each process (``RLIMIT_AS``).
        processes: processes and threads of the sandbox's user (``RLIMIT_NPROC``).
        file_bytes: largest file the submission may write (``RLIMIT_FSIZE``).
        tmp_bytes: size of the private ``/tmp``.
    """

    wall_s: float = 1800
    cell_s: float = 300
    memory_bytes: int = 8 << 30
    processes: int = 512
    file_bytes: int = 256 << 20
    tmp_bytes: int = 512 << 20


@dataclass
class Run:
    """How a runner process ended.

    Attributes:
        returncode: the exit status (negative: killed by that signal).
        ended_by: ``""`` when it finished by itself, ``"wall time"`` when the grader killed it.
        seconds: wall time it ran.
        log_tail: the last lines of its output.
        leftovers: processes of the sandbox's uid still alive after the kill (then killed).
    """

    returncode: int
    ended_by: str
    seconds: float
    log_tail: str
    leftovers: int = 0


def find_bwrap() -> tuple[str | None, str]:
    """The bwrap executable and ``""``, or None and why no sandbox can be made here."""
    path = shutil.which("bwrap")
    if path is None:
        return None, INSTALL_HINT
    args = [path, "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "--", "/bin/true"]
    if os.getuid() != 0:
        args[1:1] = ["--unshare-user"]
    probe = subprocess.run(args, capture_output=True, timeout=30)
    if probe.returncode != 0:
        return None, (f"{path} is installed but cannot create a sandbox here "
                      f"({probe.stderr.decode(errors='replace').strip()[:200]}). Unprivileged user "
                      "namespaces may be disabled (Ubuntu 24.04 restricts them with AppArmor): grade "
                      "as root, or allow them for bwrap; or pass --trusted for code you trust.")
    return path, ""


def work_folder(kind: str) -> Path:
    """A fresh folder under TMPDIR for one sandbox run (``kind``: submission, snapshot, ...).
    Its name carries this grader's process id, so that a later grader can tell the folder was
    left by one that was killed before it could remove it (:func:`remove_left_behind`)."""
    return Path(tempfile.mkdtemp(prefix=f"coursegrader-{os.getpid()}-{kind}-"))


_WORK_FOLDER = re.compile(r"coursegrader-(\d+)-[a-z]+-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_left_behind() -> list[Path]:
    """Remove the work folders of graders that ended without removing them (killed, or the
    machine lost power): this user's folders under TMPDIR whose grader process is gone. A
    grader still running, here or beside this one, keeps its folders. Returns what was removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob("coursegrader-*-*-*"):
        found = _WORK_FOLDER.match(folder.name)
        try:
            if (not found or not folder.is_dir() or folder.is_symlink()
                    or folder.stat().st_uid != os.geteuid() or _alive(int(found.group(1)))):
                continue
            remove_tree(folder)
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
        removed.append(folder)
    return removed


def remove_tree(path: Path) -> None:
    """Remove a sandbox's folder, including folders a submission left without write permission."""
    def unlock(func, target, _exc):
        os.chmod(os.path.dirname(target), 0o700)
        func(target)

    shutil.rmtree(path, onerror=unlock)


def _uids_in_use() -> set[int]:
    used = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                used.add(entry.stat().st_uid)
            except OSError:
                pass
    return used


_held_uids: dict[int, int] = {}  # uid -> the descriptor of its lock file, while a sandbox holds it
_uid_lock = threading.Lock()


def _uid_locks() -> Path:
    """The folder of the uids' lock files, shared by every grader on this machine."""
    folder = Path(tempfile.gettempdir()) / "coursegrader-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.geteuid():
        raise RuntimeError(f"{folder} belongs to another user; remove it, or set TMPDIR elsewhere")
    return folder


def free_uid(start: int = 64100, stop: int = 65000) -> int:
    """An unprivileged uid that no running process uses, no local account names and no other
    sandbox holds, of this grader or of another one running beside it (two classes graded at
    once): each uid in use is held by an exclusive lock on a file, which the kernel releases
    when the grader ends, however it ends. Give it back with :func:`release_uid`."""
    import fcntl
    import pwd

    locks = _uid_locks()
    with _uid_lock:
        used = _uids_in_use() | set(_held_uids)
        for uid in range(start + os.getpid() % 400, stop):
            if uid in used:
                continue
            try:
                pwd.getpwuid(uid)
                continue
            except KeyError:
                pass
            fd = os.open(locks / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another grader's sandbox has it
                os.close(fd)
                continue
            _held_uids[uid] = fd
            return uid
    raise RuntimeError(f"no free uid for the sandbox between {start} and {stop}")


def release_uid(uid: int | None) -> None:
    """Give back a uid from :func:`free_uid` once its sandbox's processes are gone."""
    with _uid_lock:
        fd = _held_uids.pop(uid, None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the lock


def _count_uid(uid: int) -> int:
    threads = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                threads += len(os.listdir(entry / "task"))
        except OSError:
            pass
    return threads


def _kill_uid(uid: int) -> int:
    """SIGKILL every process of ``uid`` (the sandbox's own user); returns how many there were."""
    found = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
                    found += 1
            except (OSError, ProcessLookupError):
                pass
    return found


def _reap_uid(uid: int, patience_s: float = 10.0) -> int:
    """Kill the sandbox user's processes until none is left; returns how many were found at first.

    The kernel empties a PID namespace asynchronously once its first process dies, so the
    processes may take a moment to go.
    """
    first = _kill_uid(uid)
    deadline = time.monotonic() + patience_s
    while _kill_uid(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return first


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives"):
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


@functools.cache
def _bwrap_help(bwrap: str) -> str:
    return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout


def _sized(bwrap: str, size: int) -> list[str]:
    """``--size`` for the next tmpfs where this bwrap knows it (0.7 and later); older ones get an
    unbounded tmpfs, which still counts against the machine's memory only while the sandbox lives."""
    return ["--size", str(size)] if "--size" in _bwrap_help(bwrap) else []


def _parents(destinations: list[Path]) -> list[str]:
    folders = sorted({p for d in destinations for p in d.parents if p != Path("/")},
                     key=lambda p: len(p.parts))
    return [arg for p in folders for arg in ("--perms", "0755", "--dir", str(p))]


def _python_binds(package_dirs: list[Path]) -> list[str]:
    """Read-only binds for the interpreter, the virtual environment and the course packages.

    Only these folders: a repository around a package (its chapters hold the reference
    solutions) or around the virtual environment stays out of view.
    """
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix), *(p.resolve() for p in package_dirs)}
    # A site-packages folder that a .pth file adds (an environment layered on another one, as
    # the Gradescope test's is) holds installed packages only; a source tree never ends so.
    paths |= {Path(p).resolve() for p in sys.path
              if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()
              and not any(Path(p).resolve().is_relative_to(q) for q in paths)}
    args = []
    for path in sorted(paths):
        if not str(path).startswith("/usr/"):
            args += ["--ro-bind", str(path), str(path)]
    return args


def run_runner(spec_path: Path, work: Path, out: Path, log: Path, limits: Limits, *, uid: int,
               bwrap: str | None, package_dirs: list[Path], extra_ro: dict[Path, str] | None = None,
               threads: int = 0, cancel: threading.Event | None = None) -> Run:
    """Start the runner on ``spec_path`` and wait for it, within ``limits.wall_s``.

    Args:
        spec_path: the runner's JSON spec (inside ``out``'s parent, bound read-only).
        work: the submission's working folder (writable, becomes ``/grade/chapters``).
        out: where the runner writes ``results.json`` (writable, becomes ``/grade/out``).
        log: file receiving the runner's output.
        limits: see :class:`Limits`.
        uid: the unprivileged uid the submission runs as (when the grader is root); -1 for none.
        bwrap: the bwrap executable; None for a plain child process with the same limits: with
            ``uid`` the uid mode (the runner drops to that uid), with -1 the ``--trusted`` mode
            (no isolation).
        package_dirs: the ``vaelib`` and ``coursegrader`` package folders, bound read-only.
        extra_ro: host path -> sandbox path, bound read-only (e.g. ``bench/results``).
        threads: compute threads for PyTorch and BLAS (``OMP_NUM_THREADS``); 0 leaves the default.
        cancel: when set (the grader was interrupted), the sandbox is killed at once.
    """
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "USER": "student", "LOGNAME": "student", "TQDM_DISABLE": "1", "VAELIB_OFFLINE": "1",
           "VAELIB_STRICT_CHECKS": "0", "VAELIB_DEVICE": "cpu", "PYTHONHASHSEED": "0",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
           "MALLOC_ARENA_MAX": "2"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    sandbox = bwrap is not None
    if sandbox:
        env.update(HOME="/tmp/home", MPLCONFIGDIR="/tmp/mpl", IPYTHONDIR="/tmp/ipython",
                   TMPDIR="/tmp")
        cmd = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox",
               "--clearenv"]
        if os.getuid() != 0:
            cmd += ["--unshare-user", "--uid", "1000", "--gid", "1000"]
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        binds = _python_binds(package_dirs)
        # bwrap creates the folders above a bind point for root only (0700): open them to the
        # sandbox's user, or it could not reach the interpreter it is given.
        # The private /tmp comes first: bwrap mounts in order, so a tmpfs laid after the binds
        # would hide a virtual environment or package that lives under /tmp (a clone in /tmp).
        cmd += ["--proc", "/proc", "--dev", "/dev",
                *_sized(bwrap, limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp",
                *_sized(bwrap, 64 << 20), "--perms", "1777", "--tmpfs", "/dev/shm"]
        cmd += _system_binds() + _parents([Path(d) for d in binds[2::3]]) + binds
        cmd += ["--perms", "0755", "--dir", "/grade",
                "--bind", str(work), "/grade/chapters", "--bind", str(out), "/grade/out",
                "--ro-bind", str(spec_path), "/grade/spec.json"]
        extra = extra_ro or {}
        cmd += _parents([Path(inside) for inside in extra.values() if Path(inside).parent != Path("/grade")])
        for host, inside in extra.items():
            cmd += ["--ro-bind", str(host), inside]
        cmd += ["--chdir", "/grade/chapters", "--", sys.executable, "-m", "coursegrader.runner",
                "/grade/spec.json"]
        cwd = "/"
        # The options travel through a file descriptor (--args), so that the sandbox's PID 1 shows
        # a bare `bwrap --args N` in /proc/1/cmdline, not the host's paths.
        args_file = log.with_name("bwrap-args")
        split = cmd.index("--")
        args_file.write_bytes(b"".join(a.encode() + b"\0" for a in cmd[1:split]))
        args_fd = os.open(args_file, os.O_RDONLY)
        cmd = [cmd[0], "--args", str(args_fd), *cmd[split:]]
    else:
        env.update(HOME=str(work), MPLCONFIGDIR=str(work / ".mpl"), IPYTHONDIR=str(work / ".ipython"))
        cmd = [sys.executable, "-m", "coursegrader.runner", str(spec_path)]
        cwd, args_fd = str(work), None

    # RLIMIT_NPROC counts every process of the real uid: the sandbox's own uid when the grader is
    # root; otherwise the grader's user, whose processes already running are added to the budget.
    processes = limits.processes + (0 if os.getuid() == 0 else _count_uid(os.getuid()))

    def set_limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    start = time.monotonic()
    with open(log, "wb") as log_file:
        # bwrap itself gets a bare environment too: it is the sandbox's PID 1.
        proc = subprocess.Popen(cmd, cwd=cwd, env={"PATH": "/usr/bin:/bin"} if sandbox else env,
                                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                preexec_fn=set_limits, start_new_session=True,
                                pass_fds=() if args_fd is None else (args_fd,))
        if args_fd is not None:
            os.close(args_fd)
        returncode, ended_by = _wait(proc.pid, start + limits.wall_s, cancel)
        proc.returncode = returncode
        if not sandbox:
            _kill_group(proc.pid)  # whatever the notebook left behind in its session
    own_uid = uid >= 0 and os.getuid() == 0  # a sandbox's or the uid mode's user: none else uses it
    leftovers = _reap_uid(uid) if own_uid else 0
    return Run(returncode, ended_by, time.monotonic() - start, _tail(log), leftovers)


def _wait(pid: int, deadline: float, cancel: threading.Event | None) -> tuple[int, str]:
    """Wait for ``pid`` until ``deadline`` (monotonic) or ``cancel``; returns (exit status, what
    ended it)."""
    ended_by = ""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if ended_by == "":
            if time.monotonic() > deadline:
                ended_by = "wall time"
            elif cancel is not None and cancel.is_set():
                ended_by = "interrupted"
            if ended_by:
                _kill_group(pid)
        time.sleep(0.05)
    return os.waitstatus_to_exitcode(status), ended_by


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(log: Path, lines: int = 5, limit: int = 64 << 10) -> str:
    with open(log, "rb") as f:
        f.seek(max(0, log.stat().st_size - limit))
        text = f.read().decode(errors="replace")
    return "\n".join(text.strip().splitlines()[-lines:])
