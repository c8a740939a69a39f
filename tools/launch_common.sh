# Sourced (not run) by tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh:
# the torch.distributed.run and srun command lines they share. The caller
# defines `usage` (it prints the caller's own usage, "$0" stays its name).
LAUNCH_TOOLS=$(dirname "${BASH_SOURCE[0]}")

# check_num_procs VALUE: refuse a process count that is not a number.
check_num_procs() {
    case "$1" in
        ''|*[!0-9]*) echo "NUM_PROCS must be a number, got '$1'" >&2; usage;;
    esac
}

# dist_launch NUM_PROCS TOOL ARGS...: tools/TOOL with ARGS in NUM_PROCS
# processes per node (NCCL on GPUs, gloo on CPU-only machines).
# env: NNODES NODE_RANK MASTER_ADDR PORT (default 29500) PYTHON
dist_launch() {
    local procs=$1 tool=$2
    shift 2
    PYTHONPATH="$LAUNCH_TOOLS/..":$PYTHONPATH \
    "${PYTHON:-python}" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$procs" \
        --master_port="${PORT:-29500}" \
        "$LAUNCH_TOOLS/$tool" "$@"
}

# slurm_launch PARTITION JOB_NAME TOOL ARGS...: tools/TOOL with ARGS, one
# srun task per GPU (MMEngine reads rank and world size from SLURM_PROCID /
# SLURM_NTASKS). env: GPUS (8) GPUS_PER_NODE (8) CPUS_PER_TASK (5) SRUN_ARGS
# PYTHON
slurm_launch() {
    local partition=$1 job_name=$2 tool=$3
    shift 3
    local gpus_per_node=${GPUS_PER_NODE:-8}
    # SRUN_ARGS is split into words on purpose (several srun options)
    # shellcheck disable=SC2086
    PYTHONPATH="$LAUNCH_TOOLS/..":$PYTHONPATH \
    srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"$gpus_per_node" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="$gpus_per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "${PYTHON:-python}" -u "$LAUNCH_TOOLS/$tool" "$@"
}
