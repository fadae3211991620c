#!/usr/bin/env bash
# LoRA: the guide's PygmalionAI LoRA command line, same flags, on tunesmith's runner.
#
#   MODEL=... TRAIN=... EVAL=... OUT=... bash recipes/lora.sh [more flags]
#
# Rank 128 / alpha 256 on every projection plus embed_tokens and lm_head (the guide targets
# those two when the data has syntax of its own; they are LoRA-adapted too). The adapter
# lands in $OUT (adapter_model.safetensors) and loads with peft's PeftModel.from_pretrained;
# `tunesmith merge` folds it into a copy of the base. --use_xformers selects PyTorch SDPA.
# The guide's script reads $TRAIN_BSZ/$EVAL_BSZ but sets only BSZ; both follow BSZ here.
# Extra flags after the script name are passed through and win over the ones below.
set -euo pipefail

# Threads: every usable core per process unless OMP_NUM_THREADS is set (the guide fixed 4).
export WANDB_PROJECT="${WANDB_PROJECT:-project-name}"   # only used when wandb is installed

MODEL="${MODEL:-data/models/smollm2-135m}"
TRAIN="${TRAIN:-data/work/train.arrow}"
EVAL="${EVAL:-data/work/val.arrow}"
OUT="${OUT:-data/runs/lora}"
BSZ="${BSZ:-8}"
TRAIN_BSZ="${TRAIN_BSZ:-$BSZ}"
EVAL_BSZ="${EVAL_BSZ:-$BSZ}"
ACCELERATE_CONFIG="${ACCELERATE_CONFIG:-}"   # empty: accelerate's own default config

# --bf16 true: on CPU this works (slowly); on GPUs older than Ampere use --bf16 false --fp16 true.
accelerate launch ${ACCELERATE_CONFIG:+--config_file "$ACCELERATE_CONFIG"} -m train.hf_trainer \
    --model_name_or_path "$MODEL" \
    --train_file "$TRAIN" \
    --eval_file "$EVAL" \
    --output_dir "$OUT" \
    --optim "adamw_torch_fused" \
    --report_to "wandb" \
    --ddp_find_unused_parameters false \
    --bf16 true \
    --do_train --do_eval \
    --evaluation_strategy "steps" --eval_steps 80 \
    --save_strategy "steps" --save_steps 80 \
    --save_total_limit 2 \
    --per_device_train_batch_size "$TRAIN_BSZ" --per_device_eval_batch_size "$EVAL_BSZ" \
    --gradient_accumulation_steps 64 \
    --learning_rate 5.0e-5 \
    --lr_scheduler_type "constant_with_warmup" \
    --warmup_steps 8 \
    --num_train_epochs 1 \
    --seed 42 --data_seed 42 \
    --logging_first_step true \
    --logging_steps 1 \
    --dataloader_num_workers 1 \
    --model_load_delay_per_rank 0 \
    --use_lora --lora_rank 128 --lora_alpha 256 --lora_target_modules 'up_proj,down_proj,q_proj,v_proj,k_proj,o_proj,embed_tokens,lm_head' \
    --gradient_checkpointing true \
    --use_xformers \
    "$@"
