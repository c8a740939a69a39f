#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args...]
usage() {
    echo "Usage: bash $0 CONFIG CHECKPOINT NUM_PROCS [tools/test.py arguments...]" >&2
    echo "  e.g. bash $0 configs/ldrnet/ldr_r50_nih_stage1.py CKPT 8 --out s.csv" >&2
    echo "  env: NNODES NODE_RANK MASTER_ADDR PORT (default 29500) PYTHON" >&2
    exit 1
}
source "$(dirname "$0")/launch_common.sh"
if [ $# -lt 3 ]; then usage; fi
check_num_procs "$3"
dist_launch "$3" test.py "$1" "$2" --launcher pytorch "${@:4}"
