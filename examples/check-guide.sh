#!/usr/bin/env bash
# Checks that every code block of docs/guide.md marked `<!-- sample: NAME in FILE -->` is exactly the text between
# `#region NAME` and its `#endregion` in FILE (dedented). Exits 1 and shows a diff for each sample that drifted.
set -euo pipefail
cd "$(dirname "$0")/.."
guide=docs/guide.md
status=0
checked=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The region's lines, with the smallest indentation of its non-blank lines removed.
region() {
  awk -v name="$1" '
    $0 ~ "^[ \t]*#region " name "[ \t]*$" { inside = 1; next }
    inside && /^[ \t]*#endregion[ \t]*$/ { exit }
    inside { lines[n++] = $0; if ($0 ~ /[^ \t]/) { match($0, /^[ \t]*/); if (min == "" || RLENGTH < min) min = RLENGTH } }
    END { for (i = 0; i < n; i++) print (lines[i] ~ /[^ \t]/ ? substr(lines[i], min + 1) : "") }
  ' "$2"
}

# The code block right after the marker line.
block() {
  awk -v marker="<!-- sample: $1 in $2 -->" '
    $0 == marker { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }
  ' "$guide"
}

while read -r name file; do
  region "$name" "$file" > "$tmp/region"
  block "$name" "$file" > "$tmp/block"
  if [ ! -s "$tmp/region" ]; then
    echo "sample $name: no #region $name in $file"; status=1
  elif ! diff -u --label "$file#$name" --label "$guide#$name" "$tmp/region" "$tmp/block"; then
    status=1
  fi
  checked=$((checked + 1))
done < <(sed -n 's/^<!-- sample: \([a-z0-9-]*\) in \([^ ]*\) -->$/\1 \2/p' "$guide")

echo "checked $checked samples"
exit $status
