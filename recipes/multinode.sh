#!/usr/bin/env bash
# Training on N machines: run this same script on every machine, each with its own NODE_RANK.
#
#   NNODES=2 NODE_RANK=0 MAIN_ADDR=10.0.0.1 GPUS_PER_NODE=8 bash recipes/multinode.sh --model_name_or_path M ...
#   NNODES=2 NODE_RANK=1 MAIN_ADDR=10.0.0.1 GPUS_PER_NODE=8 bash recipes/multinode.sh --model_name_or_path M ...
#
# MAIN_ADDR is the address of the NODE_RANK=0 machine as the others reach it; PORT must be
# open there. Every flag after the script name goes to the runner (train.hf_trainer, or
# MODULE=train.qlora). The runs wait for each other: nothing trains until all NNODES joined.
#
# LAUNCHER=accelerate (default) reads CONFIG, an accelerate config (default
# recipes/accelerate/multi_gpu.yaml: DDP; fsdp.yaml and deepspeed_zero3.yaml shard instead);
# the machine count, rank, address and process count given here win over the config's.
# DeepSpeed configs get the "standard" multi-node launcher, the same command on every machine
# (accelerate's default would start the others itself over pdsh).
# LAUNCHER=torchrun starts the runner without accelerate: plain DDP unless the flags ask for
# --fsdp ... or --deepspeed ds_config.json.
#
# Checkpoints: --output_dir should be on storage that every machine sees (resuming reads the
# latest complete checkpoint from there); otherwise add --save_on_each_node true.
# Tried on one machine by giving two launchers the same MAIN_ADDR=127.0.0.1 (NODE_RANK 0 and 1,
# GPUS_PER_NODE=1, CONFIG=recipes/accelerate/cpu_ddp.yaml): what tests/test_train_ddp.py runs.
# DRY_RUN=1 prints the command instead of running it.
set -euo pipefail

NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
MAIN_ADDR="${MAIN_ADDR:-127.0.0.1}"
PORT="${PORT:-29500}"
if [ -z "${GPUS_PER_NODE:-}" ]; then   # one process per GPU of this machine
  GPUS_PER_NODE=$( { nvidia-smi -L 2>/dev/null || true; } | grep -c '^GPU' || true)
  [ "$GPUS_PER_NODE" -gt 0 ] || GPUS_PER_NODE=1   # no GPU: one process per machine
fi
LAUNCHER="${LAUNCHER:-accelerate}"
CONFIG="${CONFIG:-recipes/accelerate/multi_gpu.yaml}"
MODULE="${MODULE:-train.hf_trainer}"
PYTHON="${PYTHON:-python}"

case "$LAUNCHER" in
  accelerate)
    extra=()
    if grep -q '^distributed_type: *DEEPSPEED' "$CONFIG"; then
      extra=(--deepspeed_multinode_launcher standard)
    fi
    # --num_processes counts every process on every machine.
    cmd=("$PYTHON" -m accelerate.commands.launch --config_file "$CONFIG"
         --num_machines "$NNODES" --machine_rank "$NODE_RANK"
         --num_processes $((NNODES * GPUS_PER_NODE))
         --main_process_ip "$MAIN_ADDR" --main_process_port "$PORT"
         --rdzv_backend static --same_network ${extra[@]+"${extra[@]}"}
         -m "$MODULE" "$@")
    ;;
  torchrun)
    # --nproc_per_node counts the processes of this machine only.
    cmd=("$PYTHON" -m torch.distributed.run
         --nnodes "$NNODES" --node_rank "$NODE_RANK" --nproc_per_node "$GPUS_PER_NODE"
         --master_addr "$MAIN_ADDR" --master_port "$PORT"
         -m "$MODULE" "$@")
    ;;
  *)
    echo "multinode.sh: LAUNCHER must be accelerate or torchrun, not '$LAUNCHER'" >&2
    exit 2
    ;;
esac

if [ -n "${DRY_RUN:-}" ]; then
  printf '%q ' "${cmd[@]}"; echo
else
  exec "${cmd[@]}"
fi
