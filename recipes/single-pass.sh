#!/usr/bin/env bash
# The single-pass recipe: a classifier head solved in closed form on frozen embeddings.
#
#   bash recipes/single-pass.sh [more flags for fit and compare]
#   TRAIN=my/train.jsonl EVAL=my/eval.jsonl OUT=data/work/my-head bash recipes/single-pass.sh --kernel rbf
#
# 1. fit: embeds TRAIN once with all-MiniLM-L6-v2 (mean pooling, unit rows), picks lambda by
#    leave-one-out and solves the ridge head; scores EVAL; writes $OUT/head.{json,safetensors}.
# 2. predict: labels EVAL with the saved head ("predicted" + "score" on each record).
# 3. compare: the same embeddings (read back from the cache, not embedded again) with the
#    closed-form heads and a linear head trained by AdamW; prints and writes compare.md/.json.
#    Add FINETUNE=1 to also fine-tune the whole encoder (minutes on a CPU).
# Extra flags go to fit and compare; both take the encoder, head and training flags
# (--encoder, --kernel, --lambda, --epochs, --batch_size, --learning_rate ...).
set -euo pipefail

TUNESMITH="${TUNESMITH:-tunesmith}"          # e.g. .venv/bin/tunesmith
TRAIN="${TRAIN:-data/labelled/train.jsonl}"  # or the plain layout: data/labelled/train.txt (+ train.labels)
EVAL="${EVAL:-data/labelled/eval.jsonl}"
OUT="${OUT:-data/work/single-pass}"
CACHE="${CACHE:-data/work/embed-cache}"      # shared by the three steps
FINETUNE="${FINETUNE:-}"

"$TUNESMITH" single-pass fit --train "$TRAIN" --eval "$EVAL" --output "$OUT/head" \
    --cache-dir "$CACHE" --lambda auto --solver auto --method ridge "$@"

"$TUNESMITH" single-pass predict --head "$OUT/head" --input "$EVAL" --output "$OUT/predictions.jsonl" \
    --cache-dir "$CACHE"

"$TUNESMITH" compare --train "$TRAIN" --eval "$EVAL" --output-dir "$OUT/compare" --cache-dir "$CACHE" \
    --epochs 50 --batch_size 32 --learning_rate 1e-3 ${FINETUNE:+--finetune-encoder} "$@"
