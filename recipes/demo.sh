#!/usr/bin/env bash
# The main job end to end on the embedded defaults, on CPU, in a few minutes:
#   1. every prep stage on data/raw (recipes/prep.sh) -> data/work/{train,val}.arrow
#   2. LoRA on SmolLM2-135M-Instruct for a few dozen steps (the runner of recipes/lora.sh)
#   3. loss curves and the guide's diagnosis (written by the run, printed again here)
#   4. one answer from the base model and one from the tuned adapter
# `make demo` makes the model first (tunesmith models smollm2). Paths can be overridden:
#   MODEL=... WORK=... RUN=... STEPS=... bash recipes/demo.sh
set -euo pipefail

MODEL=${MODEL:-data/models/smollm2-135m}
WORK=${WORK:-data/work}
RUN=${RUN:-data/runs/demo-lora}
STEPS=${STEPS:-40}                 # optimizer steps; about 2-4 s each on 2 CPU cores
LR=${LR:-2e-4}                     # peak learning rate of the LoRA weights
PROMPT=${PROMPT:-"How do I keep my bike chain from squeaking?"}

# Two cores: one process, torch's own threads; no tokenizer thread pool fighting it.
export TOKENIZERS_PARALLELISM=false

echo "== 1. prepare data/raw -> $WORK"
TOKENIZER="$MODEL" WORK="$WORK" MAX_LENGTH=384 bash recipes/prep.sh

echo "== 2. LoRA on $MODEL for $STEPS steps (CPU)"
# --overwrite_output_dir: the demo starts over each time; drop it to resume a killed run.
python -m train.hf_trainer \
    --model_name_or_path "$MODEL" --train_file "$WORK/train.arrow" --eval_file "$WORK/val.arrow" \
    --output_dir "$RUN" --overwrite_output_dir \
    --use_lora --lora_rank 16 --lora_alpha 32 --lora_dropout 0.05 --lora_target_modules all-linear \
    --max_steps "$STEPS" --per_device_train_batch_size 4 --per_device_eval_batch_size 4 \
    --learning_rate "$LR" --lr_scheduler_type cosine --warmup_steps 3 \
    --eval_strategy steps --eval_steps 10 --save_strategy steps --save_steps 10 --save_total_limit 2 \
    --logging_steps 2 --group_by_length --seed 42 --report_to none

echo "== 3. curves"
tunesmith curves "$RUN"

echo "== 4. the same question to the base model and to the tuned one"
echo "-- base:";  tunesmith models generate --model "$MODEL" --prompt "$PROMPT" --max-new-tokens 60
echo "-- tuned:"; tunesmith models generate --model "$MODEL" --adapter "$RUN" --prompt "$PROMPT" --max-new-tokens 60
