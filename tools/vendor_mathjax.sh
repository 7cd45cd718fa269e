#!/usr/bin/env bash
# Refresh the copy of MathJax that ships with the book (book/_static/mathjax), from the npm
# registry's `mathjax` package: only what the pages load. tex-chtml.js (TeX input, CommonHTML
# output, menu), its woff-v2 fonts, the TeX extensions that its autoloader fetches on demand
# (\boldsymbol, \cancel, ...), and the licence. Needs npm and the registry; run from anywhere:
#     bash tools/vendor_mathjax.sh [version]
set -euo pipefail
version="${1:-3.2.2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$root/book/_static/mathjax"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "mathjax@$version" >/dev/null && tar xzf mathjax-*.tgz)
source="$work/package/es5"
rm -rf "$target"
mkdir -p "$target/output/chtml/fonts" "$target/input/tex"
cp "$work/package/LICENSE" "$source/tex-chtml.js" "$target/"
cp -r "$source/output/chtml/fonts/woff-v2" "$target/output/chtml/fonts/"
cp -r "$source/input/tex/extensions" "$target/input/tex/"
cat > "$target/SOURCE.md" <<NOTE
# MathJax $version, trimmed

Taken unchanged from the npm package \`mathjax@$version\` (folder \`es5/\`) by
\`tools/vendor_mathjax.sh\`; Apache License 2.0, see \`LICENSE\`. Kept: \`tex-chtml.js\`, the
CommonHTML woff-v2 fonts and the TeX extensions its autoloader may fetch. \`_config.yml\` points
Sphinx at it (\`mathjax_path\`), so the book typesets formulas without a network.
NOTE
du -sh "$target"
