"""Predict, then see (vaelib.predict): the HTML of a question and of its answer, their plain text,
and every error a chapter's author can meet.

The page's behaviour (choosing with the keyboard, the verdict, storage, axe) is tested on the built
book in tests/browser/test_predict.py, and in JupyterLab in tests/lab/test_jupyterlab.py.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from vaelib import predict

CHOICES = {"a": "the score function's, a little", "b": "the score function's, by far", "c": "neither"}


class _Elements(HTMLParser):
    """Every start tag as (tag, attributes), and the text inside each element with a given id."""

    VOID = {"input", "br", "img", "meta", "hr"}

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self._open: list[tuple[str, dict]] = []
        self.text_of: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag not in self.VOID:
            self._open.append((tag, attrs))

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, attrs in self._open:
            if "id" in attrs:
                self.text_of[attrs["id"]] = self.text_of.get(attrs["id"], "") + data

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.elements if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())]


def _data(text: str) -> dict:
    match = re.search(r'<script type="application/json" class="vaelib-predict-data">(.*?)</script>', text, re.S)
    assert match, "the block's data is missing"
    return json.loads(match.group(1))


@pytest.fixture
def asked():
    return predict.ask("ch3-variance", "Which estimator's gradient will vary more?", CHOICES)


def test_the_question_is_a_fieldset_of_labelled_radio_buttons(asked):
    page = _Elements(asked.html)
    assert len(page.find("fieldset")) == 1 and len(page.find("legend")) == 1
    radios = page.find("input", type="radio")
    assert [r["value"] for r in radios] == list(CHOICES)
    assert len({r["name"] for r in radios}) == 1, "one radio group"
    ids = [r["id"] for r in radios]
    labels = {label["for"] for label in page.find("label")}
    assert labels == set(ids), "every radio button has its label"
    assert "Which estimator's gradient will vary more?" in asked.html
    status = page.find("p", role="status")
    assert len(status) == 1 and status[0]["aria-live"] == "polite"
    assert _data(asked.html) == {"id": "ch3-variance", "choices": CHOICES}
    assert 'window.vaelibPredict.mount(document.getElementById("' in asked.html


def test_ids_and_radio_groups_are_unique_per_block(asked):
    again = predict.ask("ch3-variance", "Which estimator's gradient will vary more?", CHOICES)
    other = predict.ask("ch2-naive", "Which way will the estimate be wrong?", {"a": "up", "b": "down"})
    blocks = [asked.html, again.html, other.html, predict.reveal("ch3-variance", answer="b", explanation="x").html]
    ids = [a["id"] for block in blocks for _, a in _Elements(block).elements if "id" in a]
    assert len(ids) == len(set(ids)), "an id repeats when two blocks share a page"
    names = {a["name"] for block in blocks[:3] for a in _Elements(block).find("input", type="radio")}
    assert len(names) == 3, "each question is its own radio group"


def test_the_reveal_has_its_answer_a_show_anyway_button_and_a_live_region(asked):
    shown = predict.reveal("ch3-variance", answer="b", explanation="It varied 41.2 times more.")
    page = _Elements(shown.html)
    assert _data(shown.html) == {"id": "ch3-variance", "answer": "b", "choices": CHOICES}
    buttons = page.find("button", type="button")
    assert len(buttons) == 1 and "Show the answer anyway" in shown.html
    live = page.find("p", role="status")
    assert len(live) == 1 and live[0]["aria-live"] == "polite"
    # without the script (an untrusted notebook) the answer is one disclosure away
    assert len(page.find("details")) == 1 and len(page.find("summary")) == 1
    assert "(b) the score function's, by far" in shown.html and "It varied 41.2 times more." in shown.html
    group = page.find("div", role="group")[0]
    assert "Which estimator" in page.text_of[group["aria-labelledby"]], "the reveal names its question"


def test_text_escapes_html_and_cannot_close_the_script():
    question = predict.ask("t-escape", "Is <b> & </script> safe?", {"a": "<i>yes</i>", "b": "no"})
    shown = predict.reveal("t-escape", answer="a", explanation="</script><script>alert(1)</script>")
    for block in (question.html, shown.html):
        assert "<b> &" not in block and "<i>yes" not in block
        assert block.count("</script>") == 2, "only the data block and the page script close a script"
    assert _data(shown.html)["choices"]["a"] == "<i>yes</i>", "the JSON still reads the same text"


def test_plain_text_shows_question_choices_answer_and_explanation(asked):
    bundle = asked._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    text = bundle["text/plain"]
    assert text.splitlines()[0] == "Predict before you read on: Which estimator's gradient will vary more?"
    for key, choice in CHOICES.items():
        assert f"  ({key}) {choice}" in text
    shown = predict.reveal("ch3-variance", answer="b", explanation="It varied 41.2 times more.")
    assert shown._repr_mimebundle_()["text/plain"] == (
        "The run's answer: (b) the score function's, by far\nIt varied 41.2 times more.")


def test_a_reveal_without_its_ask_in_this_kernel_gives_the_key_alone():
    shown = predict.reveal("never-asked-here", answer="c", explanation="Because.")
    assert str(shown) == "The run's answer: (c)\nBecause."
    assert _data(shown.html)["choices"] is None


@pytest.mark.parametrize("prompt_id", ["", "3-variance", "ch 3", "ch3/variance", "é", None, 3, "x" * 65])
def test_an_id_that_is_not_a_simple_identifier_is_refused(prompt_id):
    with pytest.raises(ValueError, match="is not a simple identifier: use a letter followed by"):
        predict.ask(prompt_id, "Which?", {"a": "1", "b": "2"})
    with pytest.raises(ValueError, match="is not a simple identifier"):
        predict.reveal(prompt_id, answer="a", explanation="Because.")


@pytest.mark.parametrize("question", ["", "   ", None])
def test_an_empty_question_is_refused(question):
    with pytest.raises(ValueError, match="The question is empty"):
        predict.ask("t-empty", question, {"a": "1", "b": "2"})


@pytest.mark.parametrize("choices,said", [
    ({}, "got 0"), ({"a": "only"}, "got 1"), (["a", "b"], "got a list, not a dict")])
def test_fewer_than_two_choices_are_refused(choices, said):
    with pytest.raises(ValueError, match=f"at least two choices, as a dict key -> text; {said}"):
        predict.ask("t-few", "Which?", choices)


@pytest.mark.parametrize("key", ["", "a b", "(a)", "toolongkey", 1])
def test_a_choice_key_that_cannot_be_an_html_id_is_refused(key):
    with pytest.raises(ValueError, match="is not 1-8 letters or digits"):
        predict.ask("t-key", "Which?", {key: "one", "z": "two"})


def test_an_empty_choice_is_refused():
    with pytest.raises(ValueError, match="The text of choice 'b' is empty"):
        predict.ask("t-choice", "Which?", {"a": "one", "b": " "})


def test_an_answer_that_is_not_a_choice_of_its_ask_is_refused(asked):
    with pytest.raises(ValueError, match=r"The answer 'd' is not a choice of the prediction 'ch3-variance'; "
                                         r"its choices are 'a', 'b', 'c'\."):
        predict.reveal("ch3-variance", answer="d", explanation="Because.")


def test_an_answer_that_is_no_key_at_all_is_refused_without_its_ask():
    with pytest.raises(ValueError, match="is not a choice key"):
        predict.reveal("t-unasked", answer="(b)", explanation="Because.")


@pytest.mark.parametrize("explanation", ["", "  ", None])
def test_an_empty_explanation_is_refused(asked, explanation):
    with pytest.raises(ValueError, match="The explanation is empty"):
        predict.reveal("ch3-variance", answer="b", explanation=explanation)


def test_the_page_script_and_style_ship_with_the_package():
    from importlib import resources

    for name in ("predict.js", "predict.css"):
        assert resources.files("vaelib").joinpath(name).is_file(), name


def test_in_every_chapter_a_question_comes_before_its_answer():
    """Every chapter asks two or more; each is asked once, in a code cell before the one cell that reveals it."""
    import json
    import re
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb")):
        cells = [("".join(c["source"]), c["cell_type"]) for c in json.loads(path.read_text())["cells"]]
        asked = {m: i for i, (src, kind) in enumerate(cells) if kind == "code"
                 for m in re.findall(r'predict\.ask\(\s*"([\w-]+)"', src)}
        revealed = {m: i for i, (src, kind) in enumerate(cells) if kind == "code"
                    for m in re.findall(r'predict\.reveal\(\s*"([\w-]+)"', src)}
        assert set(asked) == set(revealed), f"{path.name}: asked {sorted(asked)}, revealed {sorted(revealed)}"
        assert len(asked) >= 2, f"{path.name} asks for {len(asked)} prediction(s); every chapter asks for two or more"
        for prompt, i in asked.items():
            assert i < revealed[prompt], f"{path.name}: {prompt} is revealed before it is asked"
            assert prompt.startswith(f"ch{int(path.name[:2])}-"), f"{path.name}: {prompt} names another chapter"

