"""vaelib.prose: glued values reach the book (myst-nb) and JupyterLab (the kernel) alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nbformat import from_dict

from vaelib import prose


@pytest.fixture
def shown(monkeypatch):
    """The display outputs glue would send to the notebook, as nbformat outputs."""
    outputs = []

    def display(bundle, raw, metadata):
        assert raw
        outputs.append({"output_type": "display_data", "data": dict(bundle), "metadata": dict(metadata)})

    monkeypatch.setattr(prose, "display", display)
    return outputs


def test_myst_nb_reads_what_glue_writes(shown):
    from myst_nb.core.variables import format_plain_text
    from myst_nb.ext.glue import extract_glue_data_cell

    prose.glue("nll", 98.3149)
    prose.glue("count", np.int64(20))
    prose.glue("share", torch.tensor(0.375))
    prose.glue("words", "on every seed")
    cell = from_dict({"cell_type": "code", "source": "", "metadata": {}, "outputs": shown})
    data = dict(extract_glue_data_cell(cell))
    assert set(data) == {"nll", "count", "share", "words"}
    assert cell.outputs == [], "glue records are not shown in the book"
    for key, fmt in [("nll", ".2f"), ("count", "d"), ("share", ".0%"), ("words", "s"), ("nll", "")]:
        book = format_plain_text(data[key]["data"]["text/plain"], fmt)
        assert book == str(prose.text(key, fmt)), (key, fmt)
    assert str(prose.text("nll", ".2f")) == "98.31" and str(prose.text("share", ".0%")) == "38%"


def test_jupyterlab_shows_an_empty_output_not_an_unknown_mime_type(shown):
    prose.glue("probe", 1.5)
    assert shown[0]["data"]["text/plain"] == ""


@pytest.mark.parametrize("value, message", [
    (float("nan"), "broken"), (math.inf, "broken"), ([1, 2], "not list"), (True, "not bool"),
    (torch.ones(3), "not Tensor")])
def test_values_a_sentence_cannot_quote_are_refused(shown, value, message):
    with pytest.raises(ValueError, match=message):
        prose.glue("bad", value)


@pytest.mark.parametrize("name", ["1st", "with space", "dash-ed", "", "ünï"])
def test_names_must_be_identifiers(shown, name):
    with pytest.raises(ValueError, match="glue name"):
        prose.glue(name, 1.0)


def test_reading_a_name_before_it_is_glued_says_what_to_do():
    with pytest.raises(KeyError, match="run the code cells above"):
        prose.text("never_glued_anywhere")


def test_glue_claim_quotes_the_stored_three_seed_result(shown):
    claim = prose.glue_claim("ch4-20d-beats-2d")
    diff = claim["paired_difference"]
    assert str(prose.text("ch4_20d_beats_2d_diff_mean", ".3f")) == f"{diff['mean']:.3f}"
    assert str(prose.text("ch4_20d_beats_2d_a_seed2", ".4f")) == f"{claim['a']['per_seed'][2]:.4f}"
    assert int(str(prose.text("ch4_20d_beats_2d_n_seeds"))) == len(claim["seeds"])
    assert str(prose.text("ch4_20d_beats_2d_holds")) == (
        "on every seed" if claim["verdict"] == "PASS" else "not on every seed")
    prose.glue_claim("ch4-holes-remain")  # a claim against a threshold
    assert float(str(prose.text("ch4_holes_remain_b_threshold"))) == 0.05
    with pytest.raises(KeyError, match="no claim 'ch4-nothing'"):
        prose.glue_claim("ch4-nothing")


def test_glue_claim_of_a_claim_on_the_mean_quotes_its_test(shown):
    claim = prose.glue_claim("ch6-tcvae-vs-beta-vae")  # judged on the mean over twenty seeds
    diff = claim["paired_difference"]
    assert len(claim["seeds"]) == 20 and claim["kind"] == ">mean"
    assert float(str(prose.text("ch6_tcvae_vs_beta_vae_diff_sign_flip_p"))) == diff["sign_flip_p"]
    assert int(str(prose.text("ch6_tcvae_vs_beta_vae_diff_positive_seeds"))) == diff["positive_seeds"]
    assert str(prose.text("ch6_tcvae_vs_beta_vae_diff_p_text")) in (f"p = {diff['sign_flip_p']:.3f}", "p < 0.001")
    assert str(prose.text("ch6_tcvae_vs_beta_vae_holds")) == (
        "beyond chance" if diff["sign_flip_p"] < 0.05 else "within chance")
