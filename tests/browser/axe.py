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

RUN_AXE = """
async ({tags, disabled}) => {
  const rules = {};
  disabled.forEach((id) => { rules[id] = { enabled: false }; });
  const results = await axe.run(document, {
    runOnly: { type: "tag", values: tags }, rules, resultTypes: ["violations"],
  });
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary || "" })),
  }));
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
    """axe-core's WCAG A/AA violations on an open page (axe is injected into it first)."""
    page.evaluate(WAIT_FOR_MATH)
    page.add_script_tag(content=axe_source)
    return page.evaluate(RUN_AXE, {"tags": AXE_TAGS, "disabled": sorted(DISABLED_RULES)})


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
