# The course's commands. Each one creates .venv on first use and reuses it afterwards.
#   make book   execute the chapters without a cached run (two at a time), then build the HTML book into _build/html
#   make test   lint, unit tests, every notebook under nbval, the book with warnings as errors,
#               then the built book in a headless browser
#   make lab    JupyterLab on your own copies of the chapters, in my-chapters/ (installs only what
#               the notebooks need; see tools/lab.py)
#   make lab-test   JupyterLab itself in headless Chromium (run before each release; not in `make test`)
#   make student / make grade SUBMISSIONS=folder CHAPTER=01_autoencoders [JOBS=2 RESUME=1]   assignments
#   make grade-timing [CHAPTER=04_vae COPIES=4 JOBS=2]   grading time per chapter, in the sandbox
#   make assignments / gradescope / classroom [CHAPTER=01_autoencoders]   points files, Gradescope
#               zips, GitHub Classroom templates; make export GRADES=... ROSTER=... FORMAT=canvas
#   make clean  remove the build, the caches and the virtual environment
#   make python-versions   unit tests and chapters 2 and 4 on Python 3.12 and 3.13 (not in `make test`)
#
# CPU-only PyTorch (a laptop without an NVIDIA GPU; saves about 4 GB):
#   make venv TORCH_INDEX=https://download.pytorch.org/whl/cpu      (also `make lab TORCH_INDEX=...`)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB_STAMP := $(VENV)/.installed-lab
# The unit tests run in two pytest-xdist workers: many of them wait on kernels and sandboxes
# rather than compute. XDIST= runs them in one process. The browser tests run in two as well: the
# book's pages are shared out between them (each page's tests on one worker, which loads it once
# per theme), the tests of one file that share a page stay together, the rest go where there is
# room. BROWSER_XDIST= runs one.
XDIST ?= -n 2 --dist loadgroup
BROWSER_XDIST ?= -n 2 --dist loadgroup
# Where torch and torchvision come from; empty: the default index (PyPI, CUDA wheels on Linux).
TORCH_INDEX ?=

# The published book and the tests use the bundled MNIST subset, so every number printed in the
# book is reproducible without a network (`make book VAELIB_OFFLINE=0` to build with full MNIST);
# the checks of the reference solutions must pass; static pages get a one-line training summary
# instead of a live progress bar. `make lab` sets none of these.
BUILD_TARGETS := book test lint unit notebooks book-from-cache browser
VAELIB_OFFLINE ?= 1
$(BUILD_TARGETS): export VAELIB_OFFLINE := $(VAELIB_OFFLINE)
$(BUILD_TARGETS): export VAELIB_STRICT_CHECKS := 1
$(BUILD_TARGETS): export TQDM_DISABLE := 1
$(BUILD_TARGETS): export PYTHONHASHSEED := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: book test lint unit notebooks book-from-cache browser lab lab-test clean venv student grade \
	grade-timing python-versions sync-setup-cell assignments gradescope classroom export gradescope-test

venv: $(STAMP)

# tools/install_venv.py installs with uv, which unpacks torch's 5 GB of wheels on every core (about
# 20 s against pip's 80 s on two cores), and with pip where uv cannot be had. Neither byte-compiles:
# pip would do it one file at a time (about a minute for torch and the book's tools on two cores);
# compileall does it on every core. The course's own packages are installed
# in place and never compiled by the installer: where PYTHONDONTWRITEBYTECODE is set, every process (each
# grading sandbox, each grader, each test worker) would otherwise compile them again. Files that do not compile
# (test data of other packages) are skipped, as pip skips them. So are the test suites other packages
# ship (pandas/tests, sympy/*/tests, ...): about a third of the bytecode, never imported here.
COMPILE_ALL := import compileall, re, sysconfig; \
	compileall.compile_dir(sysconfig.get_path('purelib'), quiet=2, workers=0, rx=re.compile(r'/tests?/')); \
	[compileall.compile_dir(d, quiet=2, workers=0) for d in ('vaelib', 'coursegrader/src')]

$(STAMP): pyproject.toml coursegrader/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python tools/install_venv.py $(if $(TORCH_INDEX),--torch-index $(TORCH_INDEX)) -- -e ".[book,test]" -e ./coursegrader
	$(BIN)/python -c "$(COMPILE_ALL)"
	@touch $@

# The chapters without a cached run are executed first, NOTEBOOK_WORKERS at a time, into the
# execution cache (tools/execute_stale.py); Jupyter Book then builds from the cache.
book: $(STAMP)
	$(BIN)/python tools/execute_stale.py --workers $(NOTEBOOK_WORKERS) chapters/*.ipynb
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "The book is at $(abspath _build/html/index.html)"

# The notebooks run once, under nbval (on the CPU), each copied alone into an empty folder with
# vaelib installed from a wheel of this checkout (tests/standalone.py), as a learner who opens one
# chapter in Colab runs it; tests/nbval_cache.py hands each executed notebook to the book's
# execution cache, so the book build below reuses those outputs.
test: lint unit notebooks book-from-cache browser

lint: $(STAMP)
	$(BIN)/ruff check vaelib coursegrader tests bench chapters tools

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q --ignore=tests/browser --ignore=tests/lab $(XDIST) $(PYTEST_ARGS)

# NOTEBOOK_WORKERS chapters run side by side (pytest-xdist, one chapter per worker, its cells in
# order), each kernel with one compute thread: the chapters' small MLPs gain little from a second
# thread, while a second chapter uses the second core fully. NOTEBOOK_WORKERS=1: one at a time.
NOTEBOOK_WORKERS ?= 2
notebooks: $(STAMP)
	VAELIB_DEVICE=cpu $(BIN)/python tools/execute_stale.py --all --workers $(NOTEBOOK_WORKERS) \
		chapters/*.ipynb -- $(NBVAL_ARGS)

# --all: nbval has just refreshed the cache, but Sphinx only re-reads a page whose source file
# changed, so without it a change in vaelib would leave stale outputs in the pages.
book-from-cache: $(STAMP)
	VAELIB_DEVICE=cpu $(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going
	@echo "The book is at $(abspath _build/html/index.html)"

# The built book in headless Chromium (Playwright drives the system's chromium; the tests install
# Debian's package on first use when they can): pages, figures, solutions, explorers, dark theme.
# Screenshots of every page land in _build/screenshots.
browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser -q $(BROWSER_XDIST) $(PYTEST_ARGS)

# Assignments: the student version of every chapter (PRIVATE=folder appends an instructor's
# private exercises), and grading a folder of submissions (coursegrader/, the instructor's package).
student: $(STAMP)
	$(BIN)/python -m coursegrader student --chapters chapters --out student $(if $(PRIVATE),--private $(PRIVATE))

# Each submission runs in a bubblewrap sandbox (see book/instructors.md); TRUSTED=1 grades without
# one, for code you trust. JOBS submissions side by side (default: the CPUs); RESUME=1 keeps the
# grades of an interrupted run; ONLY=file.ipynb regrades one student; FULL=1 runs every cell of
# every submission instead of the fast path; PRIVATE=folder adds private exercises.
CELL_TIMEOUT ?= 300
TIMEOUT ?= 1800
MEMORY_GB ?= 8
PROCESSES ?= 512
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" -a -n "$(CHAPTER)" || { echo "usage: make grade SUBMISSIONS=folder CHAPTER=01_autoencoders [JOBS=2 RESUME=1 ONLY=file.ipynb FULL=1 PRIVATE=folder TRUSTED=1]"; exit 2; }
	$(BIN)/python -m coursegrader grade "$(SUBMISSIONS)" --chapter chapters/$(CHAPTER).ipynb \
		--cell-timeout $(CELL_TIMEOUT) --timeout $(TIMEOUT) --memory-gb $(MEMORY_GB) \
		--processes $(PROCESSES) $(if $(JOBS),--jobs $(JOBS)) $(if $(RESUME),--resume) \
		$(if $(ONLY),--only $(ONLY)) $(if $(FULL),--full) $(if $(PRIVATE),--private $(PRIVATE)) \
		$(if $(TRUSTED),--trusted)

# Grading time for a class of perfect learners: COPIES solved copies (and one stubbed) of CHAPTER
# (default: every chapter), JOBS at a time, graded in the sandbox; seconds per submission on one
# core and peak memory go to bench/results/grading_time.json (the instructor guide's table).
COPIES ?= 4
grade-timing: $(STAMP)
	$(BIN)/python bench/grading_time.py --copies $(COPIES) --jobs $(or $(JOBS),2) \
		$(if $(CHAPTER),--chapters $(CHAPTER)) $(if $(FULL),--full)

# The learner's setup: the package and JupyterLab only (no book or test tools). The learner works
# in my-chapters/, copies that git ignores, so `git pull` never meets an edited chapter.
# LAB_FROM=student: a class's hand-out, the student versions (stubs, no solutions) in student/.
LAB_FROM ?= chapters
lab: $(LAB_STAMP)
	$(BIN)/python tools/lab.py --from $(LAB_FROM)

# JupyterLab in headless Chromium (tests/lab/): MyST rendered in chapter 2, an explorer run, moved,
# clicked, saved and reopened after a kernel restart. Installs the lab extra into .venv itself.
# Screenshots land in _build/lab-screenshots. Run before each release (see the README).
lab-test: $(STAMP) $(LAB_STAMP)
	$(BIN)/python -m pytest tests/lab -q

$(LAB_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --quiet torch torchvision --index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	@touch $@

# The setup cell every chapter starts with is generated; run this after adding a chapter or
# changing the version in pyproject.toml or the repository URL in _config.yml.
sync-setup-cell: $(STAMP)
	$(BIN)/python tools/sync_setup_cell.py

# Python 3.12 and 3.13 (pyenv's python3.12/python3.13 or any on PATH): a venv each under
# _build/py, the unit tests and chapters 2 and 4; a log per version in _build/py. Not part of
# `make test` (it builds two more environments).
python-versions:
	bash tools/check_python_versions.sh 3.12 3.13

clean:
	rm -rf _build student .pytest_cache .ruff_cache $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Grading platforms (book/grading-platforms.md). CHAPTER=01_autoencoders for one chapter, every
# chapter without it. `make assignments` writes assignments/NN_name.toml, the points of each
# exercise (from its difficulty; edit them, an existing file is kept); the other targets use it.
# `make gradescope` writes dist/gradescope/NN_name-gradescope.zip (course wheels built from this
# checkout; PRIVATE=folder adds private exercises), `make classroom` dist/classroom/NN_name/, a
# template repository; `make export` a gradebook file from a graded folder:
#   make export GRADES=class/grades.csv ROSTER=roster.csv CHAPTER=01_autoencoders FORMAT=canvas
# `make gradescope-test` (before a release, not in `make test`) sets up each chapter's zip in an
# /autograder-like folder and grades its solved copy (full marks) and its student version (zero).
PLATFORM_CHAPTERS = $(if $(CHAPTER),chapters/$(CHAPTER).ipynb,$(wildcard chapters/*.ipynb))
assignments: $(STAMP)
	$(BIN)/python -m coursegrader assignment --chapter $(PLATFORM_CHAPTERS) --out assignments \
		$(if $(PRIVATE),--private $(PRIVATE)) $(if $(FORCE),--force)

gradescope: $(STAMP)
	$(BIN)/python -m coursegrader gradescope --chapter $(PLATFORM_CHAPTERS) --out dist/gradescope \
		$(if $(PRIVATE),--private $(PRIVATE))

classroom: $(STAMP)
	$(BIN)/python -m coursegrader classroom --chapter $(PLATFORM_CHAPTERS) --out dist/classroom

FORMAT ?= canvas
export: $(STAMP)
	@test -n "$(GRADES)" -a -n "$(ROSTER)" -a -n "$(CHAPTER)" || { echo "usage: make export GRADES=folder/grades.csv ROSTER=roster.csv CHAPTER=01_autoencoders [FORMAT=canvas|moodle|long]"; exit 2; }
	$(BIN)/python -m coursegrader export --grades "$(GRADES)" --roster "$(ROSTER)" \
		--assignment assignments/$(CHAPTER).toml --format $(FORMAT)

gradescope-test: $(STAMP)
	VAE_GRADESCOPE_CHAPTERS=$(or $(CHAPTER),all) $(BIN)/python -m pytest tests/test_gradescope.py -q -k real_chapter
