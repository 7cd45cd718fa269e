#!/usr/bin/env bash
# The course on other Pythons: for each version given (default 3.12 3.13), a virtual environment
# in _build/py/<version> with the package and its book and test extras, then the unit tests and
# chapters 2 and 4, each alone with vaelib from a wheel (as `make notebooks` runs every chapter).
# Prints one line per step with its result and seconds; the full output is in _build/py/<version>.log.
#   bash tools/check_python_versions.sh 3.12 3.13      (make python-versions)
# TORCH_INDEX (see the Makefile) installs torch and torchvision from another index, e.g. CPU wheels;
# CELL_TIMEOUT (seconds, default 900 as in `make notebooks`) is nbval's limit per cell.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mkdir -p _build/py
export PIP_DISABLE_PIP_VERSION_CHECK=1 VAELIB_DEVICE=cpu VAELIB_OFFLINE=1 VAELIB_STRICT_CHECKS=1 \
    TQDM_DISABLE=1 PYTHONHASHSEED=0
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.12 3.13)
status=0

step() {  # step VERSION NAME COMMAND...: run, log, print "VERSION NAME pass|FAIL SECONDS"
    local version="$1" name="$2"
    shift 2
    local start=$SECONDS
    echo "== $name: $*" >>"_build/py/$version.log"
    if "$@" >>"_build/py/$version.log" 2>&1; then
        printf '%-6s %-24s pass %5ds\n' "$version" "$name" $((SECONDS - start))
    else
        printf '%-6s %-24s FAIL %5ds (see _build/py/%s.log)\n' "$version" "$name" $((SECONDS - start)) "$version"
        return 1
    fi
}

find_python() {  # a working pythonX.Y: on PATH, or installed by pyenv but not activated
    local candidate
    for candidate in "$(command -v "python$1")" "$(pyenv root 2>/dev/null)"/versions/"$1"*/bin/"python$1"; do
        if [ -x "$candidate" ] && "$candidate" -c "" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

for version in "${versions[@]}"; do
    python="$(find_python "$version")" || { echo "python$version: not found"; status=1; continue; }
    env="_build/py/$version"
    : >"_build/py/$version.log"
    install() (
        set -e
        test -x "$env/bin/python" || "$python" -m venv "$env"
        "$env/bin/python" -m pip install --quiet --upgrade pip
        if [ -n "${TORCH_INDEX:-}" ]; then
            "$env/bin/python" -m pip install --quiet torch torchvision --index-url "$TORCH_INDEX"
        fi
        "$env/bin/python" -m pip install --quiet -e ".[book,test]"
        "$env/bin/python" -c "import sys, torch; print(sys.version); print('torch', torch.__version__)"
    )
    step "$version" "install" install || { status=1; continue; }
    step "$version" "unit tests" "$env/bin/python" -m pytest tests -q --ignore=tests/browser --ignore=tests/lab \
        -p no:cacheprovider || status=1
    step "$version" "chapters 2 and 4 alone" "$env/bin/python" -m tests.standalone --no-book-cache \
        chapters/02_elbo.ipynb chapters/04_vae.ipynb -- --nbval-cell-timeout="${CELL_TIMEOUT:-900}" -q || status=1
done
exit $status
