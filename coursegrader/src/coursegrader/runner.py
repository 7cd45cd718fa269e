"""Inside the grading sandbox: run a submission's cells like a notebook, then the checks' probes.

``python -m coursegrader.runner SPEC`` reads a JSON spec written by the grader::

    {"cells": ["code", ...], "probes": [{"label": "holes", "check": "check_holes_answer",
     "args": ["answer"]}, ...], "out": "/grade/out", "cell_timeout": 300, "uid": 64123,
     "restore": "/grade/snapshot/state.pkl", "save": false, "private_probes": null}

Two optional steps serve the fast path (:mod:`coursegrader.snapshot`): ``save`` pickles the
namespace after the cells (the reference chapter's run up to its exercises, done once per
chapter), and ``restore`` loads such a pickle before the cells (each submission's exercises then
run on the reference run's models and data instead of training their own). A probe whose check
is an instructor's private one (``"private": true``) is taken from the probes-only module at
``private_probes``; its judge never enters the sandbox.

When started as root (the grader was root and bubblewrap kept the real uid), it first drops to
``uid``, an unprivileged user of its own, and refuses to go on if any capability survived. The
cells run in an IPython shell, so magics (``%matplotlib inline``, ``!ls``) and top-level
``await`` behave as in Jupyter; a cell that runs past ``cell_timeout`` is interrupted. Then each
probe's arguments are evaluated in the notebook's namespace and the check's probe collects the
answer as plain data. Everything lands in ``out/results.json``.

Nothing here decides a verdict: the student's code runs in this same process and may have
replaced anything, so the file is treated by the grader as a claim, judged by the trusted
judges in the grader's own process. A kernel over ZeroMQ (nbclient) would add sockets, a second
process and a heartbeat to the sandbox without making that claim any more trustworthy.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

__all__ = ["main"]


class CellTimeout(BaseException):
    """Raised in a cell that ran past its time limit (a BaseException, so ``except Exception`` in
    the learner's code does not swallow it)."""


def _drop_privileges(uid: int | None) -> None:
    if uid is None or os.getuid() != 0:  # trusted mode, or bwrap already mapped us to a user
        return
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    status = Path("/proc/self/status").read_text()
    caps = {line.split(":")[0]: int(line.split(":")[1], 16) for line in status.splitlines()
            if line.startswith(("CapEff", "CapPrm", "CapAmb"))}
    if os.getuid() == 0 or os.geteuid() == 0 or any(caps.values()):
        raise SystemExit("the sandbox could not drop its privileges; refusing to run the submission")


def _end_other_processes() -> None:
    """Kill every other process of the sandbox, as a kernel's shutdown would, then reap them.

    In the sandbox's own PID namespace ``kill(-1)`` reaches only the submission's processes, so
    the probes start with the whole process budget, however many the notebook left running.
    """
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue


def _limit_name(error: BaseException) -> str:
    if isinstance(error, CellTimeout):
        return "cell time"
    if isinstance(error, MemoryError):
        return "memory"
    if isinstance(error, BlockingIOError) or getattr(error, "errno", None) == 11:  # EAGAIN from fork
        return "processes"
    return ""


def _peak_mb() -> float:
    """This process's peak resident memory, MiB: VmHWM belongs to the memory image the exec
    began, so it does not count the grader's own memory from before the fork, as getrusage does."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for: what the run cost, whatever
    else the machine was doing at the time (one thread: about its wall time on an idle core)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 2)


def _write(path: Path, document: dict) -> None:
    document = {**document, "peak_mb": _peak_mb(), "cpu_s": _cpu_seconds()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, allow_nan=True))
    os.replace(tmp, path)


_NOT_STATE = {"In", "Out", "exit", "quit", "get_ipython", "open"}


def _save_namespace(namespace: dict, path: Path) -> dict:
    """Pickle every name of the namespace that pickles (cloudpickle: functions and classes the
    notebook defined go by value, modules and library objects by reference), one at a time so
    that one widget or open file does not lose the rest; returns {name: why not} for the rest."""
    import pickle
    import random

    import cloudpickle
    import numpy as np
    import torch

    values, skipped = {}, {}
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in _NOT_STATE:
            continue
        try:
            values[name] = cloudpickle.dumps(value)
        except Exception as err:  # noqa: BLE001 - anything unpicklable is reported, not fatal
            skipped[name] = f"{type(err).__name__}: {str(err)[:120]}"
    rng = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}
    with open(path, "wb") as f:
        pickle.dump({"values": values, "rng": cloudpickle.dumps(rng)}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return skipped


def _restore_namespace(namespace: dict, path: Path) -> list[str]:
    """Load a pickle of :func:`_save_namespace` into the namespace; returns names that failed."""
    import pickle
    import random

    import numpy as np
    import torch

    with open(path, "rb") as f:
        state = pickle.load(f)  # written by the grader from the reference chapter, never by a submission
    failed = []
    for name, blob in state["values"].items():
        try:
            namespace[name] = pickle.loads(blob)
        except Exception:  # noqa: BLE001
            failed.append(name)
    rng = pickle.loads(state["rng"])
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["random"])
    return failed


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    _drop_privileges(spec.get("uid"))
    out = Path(spec["out"]) / "results.json"
    # Instructor code, loaded before any submission code runs.
    private = {}
    if spec.get("private_probes"):
        from coursegrader.private import load_probes

        private = load_probes(spec["private_probes"])

    # Imported before any student code runs; the student may still change these objects, which
    # only changes the data the probes return, never the grader's verdicts.
    from IPython.core.interactiveshell import InteractiveShell

    from vaelib.checks import registry

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):  # no GUI event loop here; `%matplotlib inline` needs none
            pass

    checks = registry()
    shell = Shell.instance(colors="NoColor")
    cells_report = []
    _write(out, {"cells": [], "probes": {}})  # the runner started (the grader's preflight reads this)
    restored_failed = []
    if spec.get("restore"):
        restored_failed = _restore_namespace(shell.user_ns, Path(spec["restore"]))

    def on_alarm(signum, frame):
        raise CellTimeout(f"cell stopped after {spec['cell_timeout']} s")

    for index, source in enumerate(spec["cells"]):
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(int(spec["cell_timeout"]))
        start = time.monotonic()
        try:
            result = shell.run_cell(source, store_history=True)
            error = result.error_before_exec or result.error_in_exec
        except CellTimeout as err:  # raised outside the cell's own frame, e.g. during display
            error = err
        finally:
            signal.alarm(0)
        report = {"cell": index, "seconds": round(time.monotonic() - start, 3)}
        if error is not None:
            report.update(error=type(error).__name__, message=str(error)[:300], limit=_limit_name(error))
        cells_report.append(report)
        _write(out, {"cells": cells_report, "probes": {}, "not_restored": restored_failed})

    if spec.get("save"):
        skipped = _save_namespace(shell.user_ns, Path(spec["out"]) / "state.pkl")
        _write(out, {"cells": cells_report, "probes": {}, "skipped": skipped})

    if spec.get("sandbox") or spec.get("own_uid"):  # kill(-1) reaches this submission's uid only
        _end_other_processes()
    probes = {}
    for probe in spec["probes"]:
        signal.alarm(int(spec["cell_timeout"]))
        try:
            check = private[probe["check"]] if probe.get("private") else checks[probe["check"]]
            args = [eval(arg, shell.user_ns) for arg in probe["args"]]  # noqa: S307 - the reference's own expressions
            outcome = check.collect(*args, seed=probe.get("seed"))
            json.dumps(outcome, allow_nan=True)  # data only: anything else is reported, not written
            probes[probe["label"]] = outcome
        except NameError as err:  # the answer's variable was never defined
            probes[probe["label"]] = {"outcome": "raised", "error": "NameError", "message": str(err)[:300]}
        except CellTimeout:
            probes[probe["label"]] = {"outcome": "raised", "error": "TimeoutError",
                                      "message": f"the check stopped after {spec['cell_timeout']} s"}
        except BaseException as err:  # noqa: BLE001 - keep collecting the other answers
            probes[probe["label"]] = {"outcome": "raised", "error": type(err).__name__,
                                      "message": str(err)[:300]}
        finally:
            signal.alarm(0)
        _write(out, {"cells": cells_report, "probes": probes, "not_restored": restored_failed})
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
