#!/usr/bin/env bash
# Every prep stage on the sample data in data/raw, from raw sources to tokenized Arrow.
# Each stage writes OUT.stats.json and OUT.rejected.jsonl beside its output: read them to see
# what was dropped and why. Override any path below from the environment, e.g.
#   RAW=my/raw WORK=my/work TOKENIZER=path/to/model bash recipes/prep.sh
set -euo pipefail

RAW=${RAW:-data/raw}                                # the sample inputs (committed)
WORK=${WORK:-data/work}                             # every output of this recipe (git-ignored)
TOKENIZER=${TOKENIZER:-data/models/smollm2-135m}    # `tunesmith models smollm2` makes it
MAX_LENGTH=${MAX_LENGTH:-512}                       # tokens per training example
CLUSTERS=${CLUSTERS:-4}                             # k of k-means
EMBEDDER=${EMBEDDER:-minilm}                        # minilm | tfidf | a local encoder folder
EVAL=${EVAL:-}                                      # eval JSONL to decontaminate against (optional)
QUIET=${QUIET:-}                                     # QUIET=--quiet: no bars, no summaries

mkdir -p "$WORK/extracted"

# 1. Extract: one JSONL of records per source.
tunesmith prep extract html --input "$RAW/html" --output "$WORK/extracted/html.jsonl" $QUIET
tunesmith prep extract csv --input "$RAW/articles.csv" --output "$WORK/extracted/articles.jsonl" \
    --template '{title}\n\n{body}' $QUIET
tunesmith prep extract sql --input "$RAW/forum.sql" --output "$WORK/extracted/forum.jsonl" \
    --table questions --input-column question --output-column answer $QUIET
tunesmith prep extract jsonl --input "$RAW/instructions.jsonl" --output "$WORK/extracted/instructions.jsonl" $QUIET

# 2. Clean: normalise text, drop refusals and disclaimers (the folder's sidecars are skipped).
tunesmith prep clean --input "$WORK/extracted" --output "$WORK/clean.jsonl" $QUIET

# 3. Filter: English only, the Gopher / C4 / FineWeb quality and repetition rules (on the answer
#    side; never on code), personal data and secrets masked (<EMAIL>, <PHONE>, <SECRET>, ...).
#    Gopher wants 50 words a page; the sample's CSV articles are 30-40-word tips, so 25 here.
tunesmith prep filter --input "$WORK/clean.jsonl" --output "$WORK/filtered.jsonl" --lang en \
    --gopher-min-words 25 $QUIET

# 3b. Decontaminate: drop training records that share 13 words with an eval set, if you have one:
#    EVAL=path/to/eval.jsonl bash recipes/prep.sh
FILTERED="$WORK/filtered.jsonl"
if [ -n "${EVAL:-}" ]; then
    tunesmith prep decontaminate --input "$FILTERED" --output "$WORK/decontaminated.jsonl" --against "$EVAL" $QUIET
    FILTERED="$WORK/decontaminated.jsonl"
fi

# 4. Dedup: exact and near duplicates; kept records carry meta.dup_group.
tunesmith prep dedup --input "$FILTERED" --output "$WORK/dedup.jsonl" --threshold 0.8 $QUIET

# 5. Cluster for diversity: at most 40 records a cluster, a report to look at.
tunesmith prep cluster --input "$WORK/dedup.jsonl" --output "$WORK/clustered.jsonl" \
    --clusters "$CLUSTERS" --embedder "$EMBEDDER" --per-cluster 40 --report "$WORK/clusters" $QUIET

# 6. Split: the guide's ratio format; near-duplicate groups never straddle train and val.
tunesmith prep split --input "$WORK/clustered.jsonl" --split_ratio 0.9,0.1 --group-key meta.dup_group \
    --train-output "$WORK/train.jsonl" --val-output "$WORK/val.jsonl" $QUIET

# 7. Tokenize to Arrow with the tokenizer's chat template (the default --prompt-format; no system
#    text unless you pass --system-prompt), loss on the answers only, each ending with one EOS;
#    then check every example.
for part in train val; do
    tunesmith prep tokenize --input-file "$WORK/$part.jsonl" --output-file "$WORK/$part.arrow" \
        --tokenizer-path "$TOKENIZER" --max-length "$MAX_LENGTH" $QUIET
done
tunesmith prep inspect "$WORK/train.arrow" --tokenizer-path "$TOKENIZER" -n 1 --max-length "$MAX_LENGTH"
tunesmith prep stats "$WORK/train.jsonl"
