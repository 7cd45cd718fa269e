"""bench/sample_sharpness.py re-runs chapter 9's own cells, and its shipped result has one shape."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

import vaelib

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("sample_sharpness", ROOT / "bench" / "sample_sharpness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sample_sharpness"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["sample_sharpness"]


def test_the_chapter_still_has_the_cells_the_benchmark_runs(bench):
    cells = bench.chapter_cells()
    for cell_id, names in {**bench.CELLS, bench.TRAIN_CELL: None}.items():
        assert cell_id in cells, f"chapter 9 has no code cell {cell_id} any more; update bench.CELLS"
        bound = set().union(*map(bench.defined_names, ast.parse(cells[cell_id]).body))
        assert set(names or ()) <= bound, (cell_id, sorted(set(names) - bound))
    train = set().union(*map(bench.defined_names, ast.parse(cells[bench.TRAIN_CELL]).body))
    assert {"vae", "gan", "dif", "seconds_mnist"} <= train
    budget = ast.parse(cells["cdcc63e7"]).body
    assert {"STEPS_MNIST", "train_for"} <= set().union(*map(bench.defined_names, budget))
    samplers = next(n for n in ast.parse(cells["c49cb046"]).body if "samplers" in bench.defined_names(n))
    keys = {ast.unparse(k) for k in samplers.value.keys}
    assert {"'VAE'", "'GAN'"} <= keys  # the names bench.MODELS reads


def test_the_benchmark_writes_no_model_of_its_own(bench):
    """No experiment written twice: the models, their training and their judge are the chapter's."""
    tree = ast.parse((ROOT / "bench" / "sample_sharpness.py").read_text())
    assert not [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    called = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
              for node in ast.walk(tree) if isinstance(node, ast.Call)}
    forbidden = {"fit", "seed_everything", "train_classifier", "digit_classifier", "VAE", "mlp", "Adam"}
    assert not called & forbidden, sorted(called & forbidden)


def test_a_run_per_seed_and_budget_merges_into_one_report(bench):
    def part(seed, value, budget="1x"):
        return {"seeds": [seed], "seconds": 10.0 + seed, "real": {}, "runs": {budget: {"steps": {"VAE": 1}, "models": {
            "VAE": {"edge": {"per_seed": [value], "mean": value, "std": 0.0}}}}}}

    merged = bench.merge([part(2, 0.3), part(0, 0.1), part(1, 0.2), *(part(s, 1.0, "4x") for s in (1, 0, 2))])
    assert merged["seeds"] == [0, 1, 2] and merged["seconds"] == 12.0 and list(merged["runs"]) == ["1x", "4x"]
    edge = merged["runs"]["1x"]["models"]["VAE"]["edge"]
    assert edge["per_seed"] == [0.1, 0.2, 0.3]
    assert edge["mean"] == pytest.approx(0.2) and edge["std"] == pytest.approx(0.1)
    assert merged["runs"]["4x"]["models"]["VAE"]["edge"]["per_seed"] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="different seeds"):
        bench.merge([part(0, 0.1), part(1, 0.2), part(0, 1.0, "4x")])


def test_the_shipped_result_has_every_measure_for_every_model_budget_and_seed():
    report = vaelib.bench_results.load("sample_sharpness")
    seeds = report["seeds"]
    assert len(seeds) >= 3 and len(report["runs"]) >= 2
    assert set(report["real"]) == {"training digits", "test digits"}
    for budget, run in report["runs"].items():
        assert budget.endswith("x") and {"VAE", "GAN"} <= set(run["models"]) and set(run["steps"]) >= {"VAE", "GAN"}
        for name, measures in run["models"].items():
            assert set(measures) == {*report["measures"]}, (budget, name)
            for entry in measures.values():
                assert len(entry["per_seed"]) == len(seeds)
                assert min(entry["per_seed"]) <= entry["mean"] <= max(entry["per_seed"])
            assert 0 <= measures["decisive"]["mean"] <= 1 and 0 <= measures["recognised"]["mean"] <= 1
