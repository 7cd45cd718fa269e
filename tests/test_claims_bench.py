"""bench/claims.py decides a claim from per-seed numbers: its rules, summaries and merging."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def claims():
    spec = importlib.util.spec_from_file_location("claims", ROOT / "bench" / "claims.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["claims"] = module  # dataclasses look their module up there
    sys.path.insert(0, str(ROOT / "bench"))  # as when the script runs: its neighbours import
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    yield module
    del sys.modules["claims"]


def make(claims, rule, margin, b="b"):
    return claims.Claim("chX-test", "00_x", "a test", lambda lab, seed: {}, "a", b, rule, margin)


def test_a_claim_passes_only_when_it_holds_on_every_seed(claims):
    greater = make(claims, ">", 0.0)
    entry = claims.judge(greater, [0, 1, 2], [{"a": 2, "b": 1}, {"a": 3, "b": 1}, {"a": 1, "b": 1.5}])
    assert entry["verdict"] == "FAIL"  # two seeds of three are not enough
    assert entry["paired_difference"]["per_seed"] == [1, 2, -0.5]
    assert entry["paired_difference"]["mean"] == pytest.approx(2.5 / 3, abs=1e-4)
    assert entry["a"]["std"] == pytest.approx(1.0)  # sample standard deviation of 2, 3, 1
    entry = claims.judge(greater, [0, 1, 2], [{"a": 2, "b": 1}, {"a": 3, "b": 1}, {"a": 2, "b": 1.5}])
    assert entry["verdict"] == "PASS"


def test_rules_below_close_and_thresholds(claims):
    assert make(claims, "<", 0.0, b=0.5).decide([-0.1, -0.2])
    assert not make(claims, "<", 0.0, b=0.5).decide([-0.1, 0.0])
    assert make(claims, "~", 0.05).decide([0.05, -0.04])
    assert not make(claims, "~", 0.05).decide([0.06])
    entry = claims.judge(make(claims, ">", 0.0, b=0.8), [0, 1], [{"a": 0.9}, {"a": 0.85}])
    assert entry["verdict"] == "PASS" and entry["b"] == {"threshold": 0.8}
    with pytest.raises(ValueError, match="unknown"):
        make(claims, "!", 0.0).decide([1.0])


def test_rules_on_the_mean_use_the_exact_sign_flip_test(claims):
    higher, apart = make(claims, ">mean", 0.0), make(claims, "~mean", 0.05)
    ahead = [0.1, 0.2, -0.01, 0.15, 0.12, 0.3, 0.05, -0.02, 0.11, 0.09]  # 8 of 10 ahead
    assert claims.sign_flip_p_value(ahead) < 0.05 and higher.decide(ahead) and not apart.decide(ahead)
    assert claims.sign_flip_p_value([0.3, 0.2, 0.25]) == pytest.approx(0.25)  # 3 seeds: never below 0.25
    assert not higher.decide([0.3, 0.2, 0.25])  # so three seeds cannot establish an ordering
    tie = [0.1, -0.12, 0.05, -0.04, 0.02, -0.03, 0.08, -0.07, 0.01, -0.02]
    assert claims.sign_flip_p_value(tie) > 0.5 and apart.decide(tie) and not higher.decide(tie)
    assert not apart.decide([d + 0.06 for d in tie])  # a mean of +0.06 is outside ±0.05
    entry = claims.judge(higher, list(range(10)), [{"a": d, "b": 0.0} for d in ahead])
    assert entry["verdict"] == "PASS" and entry["kind"] == ">mean"
    assert entry["paired_difference"]["positive_seeds"] == 8
    assert entry["paired_difference"]["sign_flip_p"] == pytest.approx(claims.sign_flip_p_value(ahead), abs=1e-4)
    assert "sign-flip p-value below 0.05" in entry["rule"]
    assert "sign_flip_p" not in claims.judge(make(claims, ">", 0.0), [0], [{"a": 1, "b": 0}])["paired_difference"]


def test_a_claim_runs_on_its_own_seeds_unless_seeds_are_given(claims):
    own = claims.Claim("chX-own", "00_x", "t", lambda lab, seed: {}, "a", "b", ">mean", 0.0, "", (0, 1, 2, 3))
    assert claims.seeds_of(own, None) == [0, 1, 2, 3] and claims.seeds_of(own, [5]) == [5]
    assert claims.seeds_of(make(claims, ">", 0.0), None) == list(claims.DEFAULT_SEEDS)
    mig = [c for c in claims.CLAIMS if "MIG" in c.unit]
    assert mig and all(c.seeds == claims.MIG_SEEDS and c.on_the_mean for c in mig)
    assert len(claims.MIG_SEEDS) >= 6  # the fewest with which the test can reach p < 0.05


def test_every_claim_names_a_chapter_that_exists(claims):
    names = [c.name for c in claims.CLAIMS]
    assert len(names) == len(set(names))
    for c in claims.CLAIMS:
        assert (ROOT / "chapters" / f"{c.chapter}.ipynb").exists(), c.chapter
        assert c.name.startswith("ch" + c.chapter[1] + "-")


def test_merge_recombines_seeds_run_in_separate_processes(claims, tmp_path):
    claim = claims.CLAIMS[0]
    parts = []
    for seed, (a, b) in enumerate([(-100.0, -101.0), (-99.0, -99.5), (-98.0, -98.2)]):
        entry = claims.judge(claim, [seed], [{claim.a: a, claim.b: b}])
        part = tmp_path / f"part{seed}.json"
        part.write_text(json.dumps({"device": "cpu", "machine": "m", "torch": "t", "data": "d", "seeds": [seed],
                                    "seconds": 1.0, "claims": {claim.name: entry}}))
        parts.append(part)
    out = tmp_path / "claims.json"
    assert claims.merge(parts, out) == 1  # the other claims were not run
    report = json.loads(out.read_text())
    merged = report["claims"][claim.name]
    assert merged["seeds"] == [0, 1, 2] and merged["verdict"] == "PASS"
    assert merged["paired_difference"]["per_seed"] == [1.0, 0.5, 0.2]
    assert claim.name not in report["not_run"] and len(report["not_run"]) == len(claims.CLAIMS) - 1


def test_the_claims_rerun_the_chapters_own_experiments(claims):
    """One truth per experiment: every model a claim re-trains comes from vaelib.experiments or a
    recipe of vaelib.recipes (the very objects, not copies), the chapter that makes the claim calls
    each by name (itself, or through a benchmark whose results it loads), and bench/claims.py trains
    nothing of its own."""
    import ast
    import json as json_
    import re

    import vaelib.experiments
    import vaelib.recipes

    library = {**vars(vaelib.experiments), **vars(vaelib.recipes)}
    assert {c.chapter for c in claims.CLAIMS} == set(claims.CHAPTER_EXPERIMENTS)
    for chapter, used in claims.CHAPTER_EXPERIMENTS.items():
        notebook = json_.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())
        code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
        for bench in re.findall(r'bench_results\.load\("(\w+)"\)', code):  # e.g. chapter 4's vae_quality
            code += (ROOT / "bench" / f"{bench}.py").read_text()
        for obj in used:
            name = next((n for n, v in library.items() if v is obj), None)
            assert name is not None, f"{chapter}: {obj!r} is not vaelib.experiments' or vaelib.recipes' own object"
            assert name in code, f"{chapter} does not call {name}, which its claims re-run"

    # Nothing in claims.py builds or trains a model itself: no training loop, no seeding, no model class.
    tree = ast.parse((ROOT / "bench" / "claims.py").read_text())
    called = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
              for node in ast.walk(tree) if isinstance(node, ast.Call)}
    forbidden = {"fit", "train_new_model", "seed_everything", "train_classifier", "VAE", "ConditionalVAE",
                 "Autoencoder", "mlp"}
    assert not called & forbidden, f"bench/claims.py trains on its own: {sorted(called & forbidden)}"
