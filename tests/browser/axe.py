"""axe-core, the accessibility checker, as the browser tests run it: the WCAG rules, a run on an
open page, the report of every page's violations and a readable description of them.

The pinned axe.min.js itself comes from ``conftest.axe_script``.
"""

from __future__ import annotations

from .conftest import merge_into_report, screenshot_dir


def bullets(items: list) -> str:
    """A Markdown list, one item per line, for assertion messages."""
    return "\n".join(f"  - {item}" for item in items)


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

# Rules switched off, each with the reason. Keep it empty unless a rule is wrong about the book;
# a real violation is fixed in the book (book/_static, book/_ext, _config.yml), not here.
DISABLED_RULES: dict[str, str] = {}

SHOWN_NODES = 3  # offending elements listed per rule

# MathJax typesets after the load event; axe must see the typeset formulas, not the TeX source.
WAIT_FOR_MATH = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  if (document.fonts) await document.fonts.ready;
}
"""

# Colour contrast is axe-core's slowest rule by far: a chapter's code cells hold thousands of
# highlighted tokens (6,000 of chapter 9's 7,500 text elements), and axe measures every one, though
# a token's contrast follows from its own colour, size and weight and from the colours, opacity and
# filters of the boxes behind it. Of the tokens in code blocks that share all of those, one in full
# view is measured and stands for the others: they are marked with SAME_COLOURS, which the rule's
# selector leaves out (chapter 9: 11 s -> 5 s a theme), and a failure counts every token it stands
# for. A style none of whose tokens is in full view is measured on all of them; every other rule
# runs on every element.
SAME_COLOURS = "data-axe-same-colours"

MARK_REPEATED_TOKENS = """
(mark) => {
  const chain = new Map();  // element -> the colours, opacity and filters of it and its ancestors
  const behind = (el) => {
    if (!el || el.nodeType !== 1) return "";
    if (!chain.has(el)) {
      const s = getComputedStyle(el);
      chain.set(el, [s.backgroundColor, s.backgroundImage, s.opacity, s.filter, s.mixBlendMode,
                     s.visibility].join(",") + "/" + behind(el.parentElement));
    }
    return chain.get(el);
  };
  const groups = new Map();
  for (const el of document.querySelectorAll("div.highlight pre *")) {
    if (!Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const s = getComputedStyle(el);
    const key = [s.color, s.fontSize, s.fontWeight, s.fontStyle, s.textShadow, behind(el)].join("|");
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(el);
  }
  const inView = (el) => {
    const box = el.getBoundingClientRect(), pre = el.closest("pre").getBoundingClientRect();
    return box.width > 0 && box.height > 0 && box.left >= pre.left && box.right <= pre.right;
  };
  const standsFor = new Map();  // the measured token -> how many tokens it stands for
  for (const tokens of groups.values()) {
    const measured = tokens.find(inView);
    if (!measured) continue;
    tokens.forEach((el) => { if (el !== measured) el.setAttribute(mark, ""); });
    standsFor.set(measured, tokens.length);
  }
  window.axeStandsFor = standsFor;
  axe.configure({ rules: [{ id: "color-contrast", selector: `*:not([${mark}])` }] });
}
"""

RUN_AXE = """
async ({tags, disabled, mark}) => {
  const rules = {};
  disabled.forEach((id) => { rules[id] = { enabled: false }; });
  const results = await axe.run(document, {
    runOnly: { type: "tag", values: tags }, rules, resultTypes: ["violations"],
  });
  const standsFor = window.axeStandsFor || new Map();
  const element = (node) => document.querySelector(node.target[node.target.length - 1]);
  const found = results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    count: v.id !== "color-contrast" ? v.nodes.length
      : v.nodes.reduce((sum, node) => sum + (standsFor.get(element(node)) || 1), 0),
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary || "" })),
  }));
  document.querySelectorAll(`[${mark}]`).forEach((el) => el.removeAttribute(mark));
  return found;
}
"""


class AxeReport:
    """Every page's violations, in axe-report.json and .txt, rewritten after each run (merged
    with what the other xdist workers found)."""

    def add(self, key: str, violations: list[dict]) -> None:
        results = merge_into_report("axe-report.json", key, violations)
        lines = [f"# axe-core violations per page and theme (tags: {', '.join(AXE_TAGS)})"]
        for name in sorted(results):
            found = results[name]
            total = sum(v["count"] for v in found)
            lines.append(f"{name}: {total} elements" if found else f"{name}: none")
            lines += [f"    {v['id']} ({v['impact']}): {v['count']}" for v in found]
        (screenshot_dir() / "axe-report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_axe(page, axe_source: str) -> list[dict]:
    """axe-core's WCAG A/AA violations on an open page (axe is injected into it first); colour
    contrast measures one token of each style in code blocks (MARK_REPEATED_TOKENS)."""
    page.evaluate(WAIT_FOR_MATH)
    page.add_script_tag(content=axe_source)
    page.evaluate(MARK_REPEATED_TOKENS, SAME_COLOURS)
    return page.evaluate(RUN_AXE, {"tags": AXE_TAGS, "disabled": sorted(DISABLED_RULES), "mark": SAME_COLOURS})


def describe(violations: list[dict]) -> str:
    """One paragraph per rule: id, impact, what it wants, how many elements, the first few."""
    parts = []
    for v in violations:
        nodes = [f"{n['target']}" + (f"  [{n['summary'].splitlines()[-1].strip()}]" if n["summary"] else "")
                 for n in v["nodes"][:SHOWN_NODES]]
        more = f"\n  ... and {v['count'] - SHOWN_NODES} more" if v["count"] > SHOWN_NODES else ""
        parts.append(f"{v['id']} ({v['impact']}, {v['count']} elements): {v['help']}\n"
                     + bullets(nodes) + more)
    return "\n".join(parts)
