#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
usage() {
    echo "Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \\" >&2
    echo "    bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments...]" >&2
    exit 1
}
source "$(dirname "$0")/launch_common.sh"
if [ $# -lt 4 ]; then usage; fi
set -x
slurm_launch "$1" "$2" test.py "$3" "$4" --launcher=slurm "${@:5}"
