#!/usr/bin/env bash
# One run on a lent GPU: train the VarNet (reconstudy train-dl) and the embedded segmenter
# (reconstudy train-seg) side by side under wall-clock budgets, then time CUDA inference
# (benchmarks/dl_speed.py, benchmarks/qsm_speed.py). Every step is independent: one failing
# does not stop the others. Everything the run returns goes to $OUT (at most 8 files):
#   device.log      machine, step start/end times and exit codes
#   dl_train.log    train-dl log        seg_train.log   train-seg log
#   bench.log       dl_speed.py then qsm_speed.py output
#   varnet_t1w.pt   VarNet weights      segmenter.pt    segmenter weights
#   manifests.tar.gz  both manifests (sha256, configs, fold, budgets, histories) + extras
#
# The device image has torch, numpy, scipy, h5py, scikit-image, pandas and pyyaml but not
# nibabel, packaging or PyWavelets: carry their pinned wheels (requirements.lock), e.g.
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .whl nibabel==5.4.2 packaging==25.0 PyWavelets==1.9.0
# and start the device command with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:src
# (2026-11-26: without PyWavelets the VarNet step failed at import; rerun alone, see RESULTS.md).
#
# Usage (repo root):  OUT=/tmp/devout bash benchmarks/device_check.sh
#   SMOKE=1           shrink every budget and size (CPU check of the whole script, ~2 min)
#   TOTAL_MINUTES=7   hard wall budget of the whole script (default 7)
#   DEVICE=cuda       device for training (SMOKE defaults to cpu)
#   TEST_ANATOMY=3    held-out label map of both folds (train on the two others)
#   SEG_BASE=12 SEG_BATCH=4 SEG_WORKERS=11   segmenter width, images per step, synthesis processes
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT to the folder for the returned files}
mkdir -p "$OUT"
START=$(date +%s)
SMOKE=${SMOKE:-0}
TOTAL_MINUTES=${TOTAL_MINUTES:-7}
TEST_ANATOMY=${TEST_ANATOMY:-3}
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/device_work}
rm -rf "$WORK" && mkdir -p "$WORK/dl" "$WORK/seg" "$WORK/meta"
LOG="$OUT/device.log"
# The models are written where they will be installed, so their manifests' retrain commands name
# the real paths. This runs in the device's throw-away copy of the repo; the shipped files there
# are removed first so that a failed training can never send the old weights back as new ones.
if [ "$SMOKE" != 1 ] && ! nvidia-smi -L >/dev/null 2>&1 && [ "${ALLOW_NO_GPU:-0}" != 1 ]; then
  echo "device_check: no GPU here; the full run replaces resources/models/* and is meant for the lent" \
       "machine's copy of the repo (use SMOKE=1 for a local check)" >&2
  exit 2
fi
DL_OUT=resources/models/varnet_t1w.pt
SEG_OUT=resources/models/segmenter
if [ "$SMOKE" = 1 ]; then DL_OUT="$WORK/dl/varnet_t1w.pt"; SEG_OUT="$WORK/seg"; fi
rm -f "$DL_OUT" "${DL_OUT%.pt}.json" "$SEG_OUT/segmenter.pt" "$SEG_OUT/manifest.json" "$SEG_OUT/checkpoint.pt"

if [ "$SMOKE" = 1 ]; then
  DEVICE=${DEVICE:-cpu}
  DL_MINUTES=${DL_MINUTES:-0.4}; SEG_MINUTES=${SEG_MINUTES:-0.4}
  SEG_BASE=${SEG_BASE:-4}; SEG_BATCH=${SEG_BATCH:-1}; SEG_WORKERS=${SEG_WORKERS:-1}; SEG_STEPS=${SEG_STEPS:-6}
  DL_WORKERS=${DL_WORKERS:-2}; BENCH_S=${BENCH_S:-60}
else
  DEVICE=${DEVICE:-cuda}
  DL_MINUTES=${DL_MINUTES:-3.5}; SEG_MINUTES=${SEG_MINUTES:-3.9}
  SEG_BASE=${SEG_BASE:-12}; SEG_BATCH=${SEG_BATCH:-4}; SEG_WORKERS=${SEG_WORKERS:-11}; SEG_STEPS=${SEG_STEPS:-40000}
  DL_WORKERS=${DL_WORKERS:-8}; BENCH_S=${BENCH_S:-50}
fi

note() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }
left() { echo $(( TOTAL_MINUTES * 60 - ($(date +%s) - START) )); }

note "device_check start: SMOKE=$SMOKE DEVICE=$DEVICE budgets dl=${DL_MINUTES}min seg=${SEG_MINUTES}min"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  nproc; free -g | head -2
  "$PY" -c "import torch, numpy, sys; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__)"
  "$PY" -c "import nibabel; print('nibabel', nibabel.__version__)"
} >>"$LOG" 2>&1

# --- 1. VarNet, leave anatomy $TEST_ANATOMY out (held-out scoring is done later on CPU) ---------
DL_CONFIG=benchmarks/varnet_t1w.gpu.train.yaml
if [ "$SMOKE" = 1 ]; then
  DL_CONFIG="$WORK/smoke_varnet.yaml"
  "$PY" - "$DL_CONFIG" <<'EOF'
import sys, yaml
config = yaml.safe_load(open("benchmarks/varnet_t1w.gpu.train.yaml"))
config["model"].update(num_cascades=2, chans=4, sens_chans=2, sens_pools=1)
config["training"].update(epochs=2, steps_per_epoch=2, batch_size=2, mask_bank=2, val_planes=2)
config["data"].update(train_subjects_per_anatomy=1, val_subjects_per_anatomy=1, test_subjects=0)
yaml.safe_dump(config, open(sys.argv[1], "w"))
EOF
fi
(
  note "dl: start"
  timeout $(( $(left) - 75 )) "$PY" benchmarks/device_run.py train-dl --config "$DL_CONFIG" \
    --out "$DL_OUT" --workdir "$WORK/dl/work" --device "$DEVICE" --threads 4 \
    --workers "$DL_WORKERS" --max-minutes "$DL_MINUTES" --no-evaluate --restart \
    --test-anatomy "$TEST_ANATOMY" >"$OUT/dl_train.log" 2>&1
  note "dl: exit $?"
) &
DL_PID=$!

# --- 2. Segmenter, leave label map $TEST_ANATOMY out ------------------------------------------
MAPS=()
for a in 1 2 3; do
  [ "$a" = "$TEST_ANATOMY" ] || MAPS+=("resources/anatomy/training_seg_0$a.nii.gz")
done
(
  note "seg: start (maps ${MAPS[*]})"
  OMP_NUM_THREADS=1 timeout $(( $(left) - 75 )) "$PY" benchmarks/device_run.py train-seg \
    --label-maps "${MAPS[@]}" --out "$SEG_OUT" --steps "$SEG_STEPS" --batch-size "$SEG_BATCH" \
    --base-channels "$SEG_BASE" --levels 4 --learning-rate 2e-3 --warmup-steps 100 \
    --device "$DEVICE" --threads 4 --workers "$SEG_WORKERS" --max-minutes "$SEG_MINUTES" \
    --validate 6 >"$OUT/seg_train.log" 2>&1
  note "seg: exit $?"
) &
SEG_PID=$!

wait "$DL_PID" "$SEG_PID"
note "training done; $(left) s left"

# --- 3. CUDA speed benchmarks (after training, so they have the GPU to themselves) ---------------
BENCH_DEVICES=cuda,cpu; QSM_DEVICES=cuda
[ "$SMOKE" = 1 ] && { BENCH_DEVICES=cpu; QSM_DEVICES=cpu; }
MODEL_ARG=()
[ -f "$DL_OUT" ] && MODEL_ARG=(--model "$DL_OUT")
T=$(( $(left) - 15 )); T=$(( T / 2 < BENCH_S ? T / 2 : BENCH_S ))
if [ "$T" -gt 5 ]; then
  note "bench: dl_speed (timeout $T s)"
  echo "== benchmarks/dl_speed.py ==" >>"$OUT/bench.log"
  timeout "$T" "$PY" benchmarks/dl_speed.py "${MODEL_ARG[@]}" --devices "$BENCH_DEVICES" \
    --batch-planes 8,24 --threads 8 --repeats 2 --train-steps 5 --train-batch 16 >>"$OUT/bench.log" 2>&1
  note "bench: dl_speed exit $?"
fi
T=$(( $(left) - 15 )); T=$(( T < BENCH_S ? T : BENCH_S ))
if [ "$T" -gt 5 ]; then
  note "bench: qsm_speed (timeout $T s)"
  echo "== benchmarks/qsm_speed.py ==" >>"$OUT/bench.log"
  timeout "$T" "$PY" benchmarks/qsm_speed.py --devices "$QSM_DEVICES" --sizes 96,160 \
    --modes eager,compiled --iterations 20 --threads 8 >>"$OUT/bench.log" 2>&1
  note "bench: qsm_speed exit $?"
fi

# --- 4. Results -------------------------------------------------------------------------------------
cp "$DL_OUT" "$OUT/varnet_t1w.pt" 2>>"$LOG" || note "no VarNet weights"
cp "$SEG_OUT/segmenter.pt" "$OUT/segmenter.pt" 2>>"$LOG" || note "no segmenter weights"
cp "${DL_OUT%.pt}.json" "$WORK/meta/varnet_t1w.json" 2>>"$LOG"
cp "$SEG_OUT/manifest.json" "$WORK/meta/segmenter_manifest.json" 2>>"$LOG"
cp "$DL_CONFIG" "$WORK/meta/" 2>>"$LOG"
nvidia-smi >>"$LOG" 2>&1
tar -czf "$OUT/manifests.tar.gz" -C "$WORK/meta" . 2>>"$LOG"
ls -l "$OUT" >>"$LOG"
note "device_check end"
exit 0
