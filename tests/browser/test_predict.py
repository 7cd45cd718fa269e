"""Predict, then see (vaelib/predict.py) on the built book's chapters 2 and 3, with no kernel.

With the keyboard alone: Tab into a question, pick with Space and the arrow keys, and the answer's
block further down says right or wrong as the run decided; before any choice it asks for one, and
its "show the answer anyway" button (Tab, Enter) shows the answer and reads it out. The choice
survives a reload. axe-core finds nothing in the prompts' blocks in either theme, before and after
a choice; each prompt is saved as a PNG, light and dark, for review. The checks after a choice, and
those of the other chapters' prompts, act on the page's shared load (visits.py, on_shared_load):
the page's own axe run has seen the prompts before any choice.
"""

from __future__ import annotations

import json

import pytest

from .axe import AXE_TAGS, DISABLED_RULES, describe
from .conftest import new_page, screenshot_dir
from .pages import page_params
from .visits import on_shared_load

PROMPTS = {
    "chapters/02_elbo.html": ["ch2-naive-evidence", "ch2-gaussian-sign"],
    "chapters/03_reparameterization.html": ["ch3-interval-width", "ch3-torch-normal"],
}
# The other chapters' prompts share the script and the markup that the tests above walk through
# in full; for each, the page must start it and judge a wrong and a right choice.
MORE_PROMPTS = {
    "chapters/01_autoencoders.html": ["ch1-random-codes", "ch1-linear-pca"],
    "chapters/04_vae.html": ["ch4-holes", "ch4-iwae"],
    "chapters/05_pathologies.html": ["ch5-beta8", "ch5-no-kl-samples"],
    "chapters/06_beta_vae.html": ["ch6-seed-or-beta", "ch6-tcvae"],
    "chapters/07_cvae.html": ["ch7-obeyed", "ch7-size-gap"],
    "chapters/08_applications.html": ["ch8-held-out-ones", "ch8-few-labels"],
    "chapters/09_beyond.html": ["ch9-near-modes", "ch9-prior-gain"],
}

AXE_ON_PROMPTS = """
async ({tags, disabled}) => {
  const rules = {};
  disabled.forEach((id) => { rules[id] = { enabled: false }; });
  const results = await axe.run({ include: [[".vaelib-predict"]] }, {
    runOnly: { type: "tag", values: tags }, rules, resultTypes: ["violations"],
  });
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary || "" })),
  }));
}
"""


def _blocks(page, prompt: str):
    """The question's and the answer's block of a prompt, both started by their script."""
    ask = page.locator(f".vaelib-predict-ask[data-prompt='{prompt}']")
    shown = page.locator(f".vaelib-predict-reveal[data-prompt='{prompt}']")
    assert ask.count() == 1 and shown.count() == 1, f"{prompt}: one question and one answer on the page"
    for block in (ask, shown):
        assert block.get_attribute("data-ready") == "1", f"{prompt}: the page script did not start"
    return ask, shown


def _answer(shown) -> str:
    return json.loads(shown.locator("script.vaelib-predict-data").text_content())["answer"]


def _start_keyboard_at(block) -> None:
    """Put the keyboard at the start of a block, as a skip link would; from there on only keys."""
    block.evaluate("el => { el.tabIndex = -1; el.focus(); }")


def _focused(page) -> dict:
    return page.evaluate("() => ({tag: document.activeElement.tagName, type: document.activeElement.type || '',"
                         " value: document.activeElement.value || '', cls: document.activeElement.className})")


@pytest.fixture
def opened(browser, book_server):
    contexts = []

    def _open(path: str, dark: bool = False):
        page_, context = new_page(browser, book_server, path, dark=dark)
        contexts.append(context)
        assert page_.response_status == 200, f"{path}: HTTP {page_.response_status} (make book?)"
        return page_

    yield _open
    for context in contexts:
        context.close()


@pytest.mark.parametrize("path", PROMPTS)
def test_choose_with_the_keyboard_and_the_answer_says_right_or_wrong(opened, path):
    page_ = opened(path)
    page = page_.page
    ask, shown = _blocks(page, PROMPTS[path][0])
    answer = _answer(shown)
    keys = ask.locator("input[type=radio]").evaluate_all("els => els.map(e => e.value)")
    assert answer in keys and shown.get_attribute("data-state") == "waiting"
    assert "Choose an answer to the question above first" in shown.inner_text()
    assert not shown.locator(".vaelib-predict-answer").is_visible(), "the answer shows before a choice"

    _start_keyboard_at(ask)
    page.keyboard.press("Tab")
    assert _focused(page) == {"tag": "INPUT", "type": "radio", "value": keys[0],
                              "cls": ""}, "Tab does not lead into the choices"
    page.keyboard.press("Space")
    for step, key in enumerate(keys):
        if step:
            page.keyboard.press("ArrowDown")  # moves to the next choice and picks it
        assert ask.locator("input:checked").get_attribute("value") == key
        verdict = shown.locator(".vaelib-predict-verdict").inner_text()
        if key == answer:
            assert verdict == f"You chose {key}: right.", verdict
            assert shown.get_attribute("data-state") == "right"
        else:
            assert verdict.startswith(f"You chose {key}; the run says {answer}"), verdict
            assert shown.get_attribute("data-state") == "wrong"
        assert shown.locator(".vaelib-predict-answer").is_visible()
        assert f"The run's answer: ({answer})" in shown.inner_text()
        assert not shown.locator(".vaelib-predict-anyway").is_visible()
        assert f"Your prediction: ({key})" in ask.locator("[role=status]").inner_text()
    # the keyboard's focus is visible on the chosen radio button (an outline, not colour alone)
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "no visible focus on the radio button"

    # a wrong choice, kept across a reload
    wrong = next(k for k in keys if k != answer)
    ask.locator(f"input[value='{wrong}']").focus()
    page.keyboard.press("Space")
    page.reload()
    ask, shown = _blocks(page, PROMPTS[path][0])
    assert ask.locator("input:checked").get_attribute("value") == wrong, "the choice did not survive a reload"
    assert shown.get_attribute("data-state") == "wrong"
    assert shown.locator(".vaelib-predict-verdict").inner_text().startswith(f"You chose {wrong}; the run says {answer}")
    assert page_.console_errors == [] and page_.page_errors == [], page_.console_errors + page_.page_errors


@pytest.mark.parametrize("path", PROMPTS)
def test_show_the_answer_anyway_with_the_keyboard(opened, path):
    page_ = opened(path)
    page = page_.page
    ask, shown = _blocks(page, PROMPTS[path][1])
    answer = _answer(shown)
    announce = shown.locator(".vaelib-predict-announce")
    assert announce.get_attribute("aria-live") == "polite" and announce.inner_text() == ""
    _start_keyboard_at(shown)
    page.keyboard.press("Tab")
    assert _focused(page)["cls"] == "vaelib-predict-anyway", "Tab does not reach 'show the answer anyway'"
    page.keyboard.press("Enter")
    assert shown.get_attribute("data-state") == "shown"
    assert shown.locator(".vaelib-predict-verdict").inner_text().startswith(
        f"You have not chosen; the run says {answer}")
    assert shown.locator(".vaelib-predict-answer").is_visible()
    assert _focused(page)["cls"] == "vaelib-predict-answer", "focus is lost when the button goes"
    said = announce.text_content()
    assert f"the run says {answer}" in said and "The run's answer" in said, said
    # choosing afterwards still gives the verdict
    ask.locator(f"input[value='{answer}']").focus()
    page.keyboard.press("Space")
    assert shown.locator(".vaelib-predict-verdict").inner_text() == f"You chose {answer}: right."
    assert page_.console_errors == [] and page_.page_errors == [], page_.console_errors + page_.page_errors


def _after_a_choice(opened, path: str, dark: bool) -> dict:
    """On the shared load: choose the first answer of every prompt, run axe-core on the prompts'
    blocks, and save each block as a PNG for review."""
    page = opened.page
    states = {}
    for prompt in PROMPTS[path]:
        ask, shown = _blocks(page, prompt)
        ask.locator("input[type=radio]").first.check()
        states[prompt] = shown.get_attribute("data-state")
    after = page.evaluate(AXE_ON_PROMPTS, {"tags": AXE_TAGS, "disabled": sorted(DISABLED_RULES)})
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    stem, theme = path.split("/")[-1].removesuffix(".html"), "dark" if dark else "light"
    for prompt in PROMPTS[path]:
        for kind in ("ask", "reveal"):
            block = page.locator(f".vaelib-predict-{kind}[data-prompt='{prompt}']")
            block.scroll_into_view_if_needed()
            block.screenshot(path=str(screenshot_dir() / f"predict-{stem}-{prompt}-{kind}-{theme}.png"))
    return {"states": states, "after": after}


def _judge_each_prompt(opened, path: str) -> dict:
    """On the shared load: every prompt of the page, a wrong choice and then the right one."""
    page = opened.page
    errors_before = len(opened.console_errors), len(opened.page_errors)  # the load's are checked elsewhere
    found = page.locator(".vaelib-predict-ask").evaluate_all("els => els.map(e => e.dataset.prompt)")
    judged = {}
    for prompt in found:
        ask, shown = _blocks(page, prompt)
        answer = _answer(shown)
        keys = ask.locator("input[type=radio]").evaluate_all("els => els.map(e => e.value)")
        seen = {"answer": answer, "keys": keys, "before": shown.get_attribute("data-state")}
        wrong = next(k for k in keys if k != answer)
        ask.locator(f"input[value='{wrong}']").check()
        seen["after_wrong"] = shown.get_attribute("data-state")
        ask.locator(f"input[value='{answer}']").check()
        seen["verdict"] = shown.locator(".vaelib-predict-verdict").inner_text()
        judged[prompt] = seen
    errors = opened.console_errors[errors_before[0]:] + opened.page_errors[errors_before[1]:]
    return {"found": found, "judged": judged, "errors": errors}


@on_shared_load("predict")
def _prompts_on_the_shared_load(opened, path: str, dark: bool):
    if path in PROMPTS:
        return _after_a_choice(opened, path, dark)
    if path in MORE_PROMPTS and not dark:
        return _judge_each_prompt(opened, path)
    return None


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("path", page_params(PROMPTS))
def test_axe_finds_nothing_in_the_prompts(visits, path, theme):
    visit = visits(path, dark=theme == "dark")
    # before a choice: the page's own axe run, on the whole page, prompts included
    assert not visit.axe, f"{path} ({theme}), before a choice:\n{describe(visit.axe)}"
    found = visit.extra("predict")
    assert set(found["states"]) == set(PROMPTS[path])
    assert all(state in ("right", "wrong") for state in found["states"].values()), found["states"]
    assert not found["after"], f"{path} ({theme}), after a choice:\n{describe(found['after'])}"


@pytest.mark.parametrize("path", page_params(MORE_PROMPTS))
def test_every_prompt_of_the_other_chapters_judges_a_choice(visits, path):
    found = visits(path).extra("predict")
    assert found["found"] == MORE_PROMPTS[path], f"{path}: the page asks {found['found']}"
    for prompt, seen in found["judged"].items():
        assert seen["answer"] in seen["keys"] and seen["before"] == "waiting", (prompt, seen)
        assert seen["after_wrong"] == "wrong", (prompt, seen)
        assert seen["verdict"] == f"You chose {seen['answer']}: right.", (prompt, seen)
    assert found["errors"] == [], found["errors"]
