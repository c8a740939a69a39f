#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Works on GPUs (NCCL, one process per GPU) and on CPU-only machines (gloo).
usage() {
    echo "Usage: bash $0 CONFIG NUM_PROCS [tools/train.py arguments...]" >&2
    echo "  e.g. bash $0 configs/ldrnet/ldr_r50_nih_stage1.py 8 --amp" >&2
    echo "  env: NNODES NODE_RANK MASTER_ADDR PORT (default 29500) PYTHON" >&2
    exit 1
}
source "$(dirname "$0")/launch_common.sh"
if [ $# -lt 2 ]; then usage; fi
check_num_procs "$2"
dist_launch "$2" train.py "$1" --launcher pytorch "${@:3}"
