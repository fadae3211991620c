#!/usr/bin/env bash
# Full fine-tune: the guide's PygmalionAI command line, same flags, on tunesmith's runner.
#
#   bash recipes/full.sh                       # paths below, or set them:
#   MODEL=... TRAIN=... EVAL=... OUT=... bash recipes/full.sh [more flags]
#
# Extra flags after the script name are passed through and win over the ones below
# (e.g. `--fp16 false --bf16 true` on a GPU without fp16, `--max_steps 20` for a try).
# Rerunning the same command resumes from the latest complete checkpoint in $OUT;
# add --overwrite_output_dir to start over. Data: `tunesmith prep tokenize` Arrow files
# (or JSONL, tokenized on the fly). Multi-GPU: ACCELERATE_CONFIG=recipes/accelerate/multi_gpu.yaml
# (or fsdp.yaml / deepspeed_zero3.yaml for models that do not fit one GPU).
set -euo pipefail

# Threads: every usable core per process unless OMP_NUM_THREADS is set (the guide fixed 4).
export WANDB_PROJECT="${WANDB_PROJECT:-project-name}"   # only used when wandb is installed

MODEL="${MODEL:-data/models/smollm2-135m}"
TRAIN="${TRAIN:-data/work/train.arrow}"
EVAL="${EVAL:-data/work/val.arrow}"
OUT="${OUT:-data/runs/full}"
BSZ="${BSZ:-8}"
ACCELERATE_CONFIG="${ACCELERATE_CONFIG:-}"   # empty: accelerate's own default config

# --fp16 true needs a CUDA GPU: on a CPU-only machine pass `--fp16 false` (or `--bf16 true`).
# --evaluation_strategy is today's --eval_strategy; the old spelling is mapped with a warning.
accelerate launch ${ACCELERATE_CONFIG:+--config_file "$ACCELERATE_CONFIG"} -m train.hf_trainer \
    --model_name_or_path "$MODEL" \
    --train_file "$TRAIN" \
    --eval_file "$EVAL" \
    --output_dir "$OUT" \
    --report_to "wandb" \
    --do_train --do_eval \
    --ddp_find_unused_parameters false \
    --optim 'adamw_torch_fused' \
    --seed 42 --data_seed 42 \
    --logging_first_step true --logging_steps 1 \
    --dataloader_num_workers 1 \
    --per_device_train_batch_size "$BSZ" --per_device_eval_batch_size "$BSZ" \
    --fp16 true \
    --evaluation_strategy "steps" --eval_steps 128 \
    --save_strategy "steps" --save_steps 128 \
    --save_total_limit 2 \
    --gradient_accumulation_steps 8 \
    --learning_rate 1.0e-5 \
    --lr_scheduler_type "cosine" \
    --warmup_steps 64 \
    --num_train_epochs 1 \
    "$@"
