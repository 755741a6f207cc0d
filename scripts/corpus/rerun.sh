#!/bin/sh
# Reruns the public hardware corpus audit: docs/corpus.md and fixtures/corpus/arm64-its-64k from
# corpus/pciconf-msix.tsv. With a PCIconf git directory as argument (the project's
# `fetch github:bsdhw/PCIconf` gives one), rebuilds the corpus table from the probes first.
#
#     sh scripts/corpus/rerun.sh [/work/.mirror/bsdhw+PCIconf/repo]
set -eu
cd "$(dirname "$0")/../.."
if [ $# -ge 1 ]; then
    python3 scripts/corpus/build_corpus.py "$1" > corpus/pciconf-msix.tsv.new
    mv corpus/pciconf-msix.tsv.new corpus/pciconf-msix.tsv
fi
cargo xtask corpus
echo "docs/corpus.md and fixtures/corpus/arm64-its-64k regenerated; review: git diff --stat"
