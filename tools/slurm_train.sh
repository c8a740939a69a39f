#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# One task per GPU through srun; tools/train.py gets --launcher slurm (MMEngine
# reads the rank and world size from SLURM_PROCID / SLURM_NTASKS).
usage() {
    echo "Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \\" >&2
    echo "    bash $0 PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments...]" >&2
    exit 1
}
source "$(dirname "$0")/launch_common.sh"
if [ $# -lt 4 ]; then usage; fi
set -x
slurm_launch "$1" "$2" train.py "$3" --work-dir="$4" --launcher=slurm "${@:5}"
