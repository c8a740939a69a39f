#!/usr/bin/env bash
# The CUDA path in one short run (for a lent GPU machine; CI never runs it):
# stage-1 step time and memory vs a plain MMPretrain model (fp32 and AMP),
# stage-2 costs, and a tiny end-to-end demo (stage 1 + stage 2 with --amp,
# test, a 1-process NCCL launch, the GPU inference test).
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]
set -uo pipefail
OUT=${1:-${OUT:-/tmp/gpu_check}}
LOGS=$(mktemp -d)
mkdir -p "$OUT"
trap 'tar -C "$LOGS" --exclude="*.pth" -czf "$OUT/logs.tar.gz" .' EXIT
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
step() { echo; echo "=== $*"; }
run() { local name=$1; shift; local t=$(date +%s)
  "$@" > "$LOGS/$name.log" 2>&1; local rc=$?
  echo "[$name] exit $rc in $(( $(date +%s) - t )) s"; tail -n 25 "$LOGS/$name.log" | grep -v "^\s*$"; }

step environment
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY -c "import torch, mmengine, mmpretrain, mmcv; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0)); print('mmengine', mmengine.__version__, 'mmpretrain', mmpretrain.__version__, 'mmcv', mmcv.__version__)"

step stage 1: LDR vs plain MMPretrain, ResNet-50 448x448 batch 32
run bench_stage1_fp32 $PY benchmarks/bench_stage1.py --device cuda --batch 32 --reps 10 --warmup 3
run bench_stage1_amp $PY benchmarks/bench_stage1.py --device cuda --batch 32 --reps 10 --warmup 3 --amp

step stage 2 costs, ResNet-50 448x448 batch 32, C=14, D=4096 (the recommended concat neck: 2 x 2048)
run bench_reconstruction $PY benchmarks/bench_reconstruction.py --device cuda --batch 32 --batches 4 --vbatch 256 --amp --dims 4096 --mem-dims 4096 --mem-n 1024 4096 16384

step end to end on the demo data with --amp
W=$LOGS/work; rm -rf "$W"
run demo_data $PY tools/misc/make_demo_dataset.py data/ldr_demo
run prompt $PY tools/misc/extract_prompt_embeddings.py configs/ldrnet/ldr_r18_demo_stage1.py --weights none
run stage1 $PY tools/train.py configs/ldrnet/ldr_r18_demo_stage1.py --amp --work-dir "$W/s1" \
    --cfg-options train_cfg.max_epochs=3 train_dataloader.num_workers=4 val_dataloader.num_workers=4
S1=$(ls -t "$W"/s1/best_*.pth | head -1)
run stage2 $PY tools/train.py configs/ldrnet/ldr_r18_demo_stage2.py --amp --work-dir "$W/s2" \
    --cfg-options model.stage1_checkpoint="$S1"
S2=$(ls -t "$W"/s2/best_*.pth | head -1)
run test_stage1 $PY tools/test.py configs/ldrnet/ldr_r18_demo_stage1.py "$S1" --work-dir "$W/t1"
run test_stage2 $PY tools/test.py configs/ldrnet/ldr_r18_demo_stage2.py "$S2" --work-dir "$W/t2" \
    --cfg-options model.stage1_checkpoint="$S1"
grep -h "Iter(train)\|Epoch(train)" "$W"/s2/*/*.log | tail -n 3
run nccl_launch bash tools/dist_train.sh configs/ldrnet/ldr_r18_demo_stage1.py 1 --amp --work-dir "$W/dist" \
    --cfg-options train_cfg.max_epochs=1
grep -h "Distributed\|backend\|nccl" "$W"/dist/*/*.log | head -n 5
run pytest_gpu $PY -m pytest -q -x tests/test_apis_inference.py -k cuda
echo; echo "done"
