#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Works on GPUs (NCCL, one process per GPU) and on CPU-only machines (gloo).
usage() {
    echo "Usage: bash $0 CONFIG NUM_PROCS [tools/train.py arguments...]" >&2
    echo "  e.g. bash $0 configs/ldrnet/ldr_r50_nih_stage1.py 8 --amp" >&2
    echo "  env: NNODES NODE_RANK MASTER_ADDR PORT (default 29500) PYTHON" >&2
    exit 1
}
if [ $# -lt 2 ]; then usage; fi
case "$2" in ''|*[!0-9]*) echo "NUM_PROCS must be a number, got '$2'" >&2; usage;; esac
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
