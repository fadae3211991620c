#!/usr/bin/env bash
# QLoRA: the guide's qlora.py command line, same flags, on tunesmith's runner.
#
#   MODEL=... DATA=... OUT=... bash recipes/qlora.sh [more flags]
#
# DATA is a JSONL/JSON file or folder of {"input", "output"} records (tokenized on the fly
# with the tokenize stage's code; Arrow works too); 1024 examples are held out for eval
# (fewer on small data). The guide runs it with --bits 16, i.e. LoRA on a bf16 base; pass
# `--bits 4` for the 4-bit NF4 base QLoRA is named for. Unset flags keep qlora.py's
# defaults (rank 64, alpha 16, all linear layers, lr 2e-4, constant schedule...), except
# its --max_steps 10000, which would override --num_train_epochs: one epoch means one epoch.
# Extra flags after the script name are passed through and win over the ones below.
set -euo pipefail

export WANDB_PROJECT="${WANDB_PROJECT:-qlora-33b}"       # only used when wandb is installed
export HF_DATASETS_CACHE="${HF_DATASETS_CACHE:-data/work/hf-datasets-cache}"

MODEL="${MODEL:-data/models/smollm2-135m}"
DATA="${DATA:-data/work/train.jsonl}"
OUT="${OUT:-data/runs/qlora}"
PYTHON="${PYTHON:-python}"

# --max_memory_MB caps each GPU when placing the model; --optim paged_adamw_32bit falls back
# to the plain optimizer on CPU; --fp16_full_eval evaluates in fp16.
"$PYTHON" -m train.qlora \
    --model_name_or_path "$MODEL" \
    --output_dir "$OUT" \
    --dataset "$DATA" \
    --dataset-format input-output \
    --train_on_source True \
    --learning_rate 0.000075 \
    --warmup_steps 0 \
    --num_train_epochs 1 \
    --do_train True \
    --do_eval True \
    --do_mmlu_eval False \
    --bf16 True \
    --bits 16 \
    --source_max_len 2500 \
    --target_max_len 2500 \
    --per_device_train_batch_size 1 \
    --gradient_accumulation_steps 1 \
    --logging_first_step true --logging_steps 1 \
    --save_steps 100 \
    --eval_steps 10 \
    --save_strategy steps \
    --save_total_limit 2 \
    --data_seed 41 \
    --per_device_eval_batch_size 1 \
    --fp16_full_eval \
    --evaluation_strategy steps \
    --max_memory_MB 48000 \
    --optim paged_adamw_32bit \
    --report_to "wandb" \
    "$@"
