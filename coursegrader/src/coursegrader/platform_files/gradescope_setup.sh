#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (the zip is unpacked
# in $ROOT/source). It installs a Python >= 3.11, CPU PyTorch and the course packages from the
# wheels in this zip, keeps the reference chapter and the private exercises root's alone, and
# runs the reference chapter up to its exercises once (the fast path's state), so that grading
# a submission needs no network and runs only its exercise cells.
#
#   VAE_AUTOGRADER_ROOT          the autograder folder (default /autograder)
#   VAE_AUTOGRADER_PYTHON        the Python to build the environment with (default: the newest
#                                python3.13 / 3.12 / 3.11 on the PATH, else Debian's python3.11)
#   VAE_AUTOGRADER_BASE_SITE     a site-packages folder that already holds PyTorch and the other
#                                dependencies: the environment layers on it and installs only the
#                                two course wheels (the tests use it; Gradescope leaves it unset)
set -euo pipefail
ROOT="${VAE_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"
TORCH_INDEX="$(sed -n 's/.*"torch_index": "\(.*\)".*/\1/p' "$SOURCE/config.json")"

find_python() {
    for candidate in "${VAE_AUTOGRADER_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c \
            'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if [ -z "${VAE_AUTOGRADER_BASE_SITE:-}" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # bubblewrap: the sandbox, where the container allows one (else the grader's uid mode).
    apt-get install -y -q --no-install-recommends bubblewrap ca-certificates
    if ! find_python >/dev/null; then
        apt-get install -y -q --no-install-recommends python3.11 python3.11-venv \
            || { apt-get install -y -q software-properties-common \
                 && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update -q \
                 && apt-get install -y -q python3.11 python3.11-venv; }
    fi
fi
PYTHON="$(find_python)" || { echo "no Python >= 3.11 found or installed" >&2; exit 1; }
if [ -z "${VAE_AUTOGRADER_BASE_SITE:-}" ] && ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
    # Debian and Ubuntu ship venv's pip bootstrap apart, as pythonX.Y-venv
    apt-get install -y -q --no-install-recommends \
        "python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
fi
echo "building $VENV with $PYTHON ($("$PYTHON" --version))"
rm -rf "$VENV"
if [ -n "${VAE_AUTOGRADER_BASE_SITE:-}" ]; then
    "$PYTHON" -m venv --without-pip "$VENV"
    SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$VAE_AUTOGRADER_BASE_SITE" > "$SITE/_autograder_base.pth"
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-index "$SOURCE"/wheels/*.whl
else
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet torch torchvision --index-url "$TORCH_INDEX"
    "$VENV/bin/python" -m pip install --quiet "$SOURCE"/wheels/*.whl
fi

# The submission's user reads the environment, and nothing of the source: the reference chapter
# holds the solutions, private/ the instructor's judges.
chmod 755 "$ROOT"
chmod -R a+rX "$VENV"
chmod -R go-rwx "$SOURCE"
VAELIB_OFFLINE=1 "$VENV/bin/python" -m coursegrader.gradescope prepare --root "$ROOT"
echo "autograder ready"
