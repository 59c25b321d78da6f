#!/usr/bin/env bash
# One run on a lent GPU: train the leave-one-anatomy-out folds of the VarNet (reconstudy train-dl)
# and of the embedded segmenter (reconstudy train-seg) side by side under wall-clock budgets,
# optionally followed by the CUDA speed benchmarks. Held-out scoring is done afterwards on CPU
# (train-dl --evaluate-only; python -m reconstudy.segment.evaluate): see docs/deep-learning.md.
# Every step is independent: one failing does not stop the others. Files returned under $OUT
# (the device tool returns at most 8):
#   device.log               machine, step start/end times and exit codes
#   <DL_NAME>_fold<A>.pt     DL weights of the fold holding out anatomy A (A = SHIP: shipped)
#   segmenter_fold<A>.pt     segmenter weights of the fold holding out label map A
#   logs.tar.gz              training logs, manifests (sha256, configs, fold, budgets, histories)
#
# The device image has torch, numpy, scipy, h5py, scikit-image, pandas and pyyaml but not
# nibabel, packaging or PyWavelets: carry their pinned wheels (requirements.lock), e.g.
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .whl nibabel==5.4.2 packaging==25.0 PyWavelets==1.9.0
# and start the device command with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:src
#
# Usage (repo root):  OUT=/tmp/devout bash benchmarks/device_check.sh
#   SMOKE=1            tiny budgets and sizes on the CPU (a local check of the whole script)
#   TOTAL_MINUTES=9    hard wall budget of the whole script
#   DL_FOLDS="1 2 3"   held-out anatomies of the VarNet folds (train on the two others)
#   SEG_FOLDS="1 2"    held-out label maps of the segmenter folds
#   SHIP=3             the fold whose models are written to resources/models (the shipped ones)
#   DL_MINUTES, SEG_MINUTES   training budgets per fold (all folds train at the same time)
#   SEG_BASE=12 SEG_BATCH=4 SEG_WORKERS=5   segmenter width, images per step, synthesis processes per fold
#   SEG_RESIZE=0.5     probability of the structure-size augmentation (train-seg --resize-probability,
#                      range 0.3); 0 trains as the folds before 2026-11-26 did
#   SEG_HARMONISE=0.8  probability of setting those structures to the phantom's normative sizes first
#                      (train-seg --harmonise-probability); 0 trains on the label maps' own sizes
#   SEG_ATROPHY=0.5    probability of atrophying a training image as the phantom's impaired group
#                      (train-seg --atrophy-probability; rim of hippocampus/amygdala to CSF)
#   SEG_SYNTH=workers  synthesise the segmenter's images in SEG_WORKERS CPU processes (default);
#                      device: on the GPU (train-seg --synth-on-device; if that fails in its first
#                      minute the fold restarts with CPU processes). Measured on an H100: 10 steps/s
#                      on the GPU vs 51 steps/s with 13 CPU processes (docs/segmentation.md)
#   DL_CONFIG          training config of the DL folds (default resources/models/modl_t1w.train.yaml);
#                      the shipped fold is written to resources/models/<config name>.pt
#   BENCH=0            1: also run benchmarks/dl_speed.py and qsm_speed.py on CUDA afterwards
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT to the folder for the returned files}
mkdir -p "$OUT"
START=$(date +%s)
SMOKE=${SMOKE:-0}
TOTAL_MINUTES=${TOTAL_MINUTES:-9}
DL_FOLDS=${DL_FOLDS-1 2 3}  # empty: none (unset: all three)
SEG_FOLDS=${SEG_FOLDS-1 2}  # empty: none
SHIP=${SHIP:-3}
BENCH=${BENCH:-0}
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/device_work}
rm -rf "$WORK" && mkdir -p "$WORK/meta"
LOG="$OUT/device.log"
if [ "$SMOKE" != 1 ] && ! nvidia-smi -L >/dev/null 2>&1 && [ "${ALLOW_NO_GPU:-0}" != 1 ]; then
  echo "device_check: no GPU here; the full run replaces resources/models/* and is meant for the lent" \
       "machine's copy of the repo (use SMOKE=1 for a local check)" >&2
  exit 2
fi
DL_CONFIG=${DL_CONFIG:-resources/models/modl_t1w.train.yaml}
DL_NAME=$(basename "$DL_CONFIG" .train.yaml)
SEG_SYNTH=${SEG_SYNTH:-workers}
SEG_RESIZE=${SEG_RESIZE:-0.5}
SEG_HARMONISE=${SEG_HARMONISE:-0.8}
SEG_ATROPHY=${SEG_ATROPHY:-0.5}
if [ "$SMOKE" = 1 ]; then
  DEVICE=${DEVICE:-cpu}
  DL_MINUTES=${DL_MINUTES:-0.3}; SEG_MINUTES=${SEG_MINUTES:-0.3}
  SEG_BASE=${SEG_BASE:-4}; SEG_BATCH=${SEG_BATCH:-1}; SEG_WORKERS=${SEG_WORKERS:-1}; SEG_STEPS=${SEG_STEPS:-4}
  DL_WORKERS=${DL_WORKERS:-1}; BENCH_S=${BENCH_S:-60}
  SMOKE_SOURCE=$DL_CONFIG
  DL_CONFIG="$WORK/$DL_NAME.train.yaml"
  "$PY" - "$DL_CONFIG" "$SMOKE_SOURCE" <<'EOF'
import sys, yaml
config = yaml.safe_load(open(sys.argv[2]))
depth = "num_unrolls" if config["architecture"] == "MoDL" else "num_cascades"
config["model"].update({depth: 2, "chans": 4})
config["training"].update(epochs=2, steps_per_epoch=2, batch_size=2, mask_bank=2, val_planes=2)
config["data"].update(train_subjects_per_anatomy=1, val_subjects_per_anatomy=1, test_subjects=0)
yaml.safe_dump(config, open(sys.argv[1], "w"))
EOF
else
  DEVICE=${DEVICE:-cuda}
  DL_MINUTES=${DL_MINUTES:-6.3}; SEG_MINUTES=${SEG_MINUTES:-7}
  SEG_BASE=${SEG_BASE:-12}; SEG_BATCH=${SEG_BATCH:-4}; SEG_WORKERS=${SEG_WORKERS:-5}; SEG_STEPS=${SEG_STEPS:-60000}
  DL_WORKERS=${DL_WORKERS:-4}; BENCH_S=${BENCH_S:-50}
fi

# Training budgets never run past the script's own: each fold stops (and exports) at least
# 150 s (DL: the cohort is built before its budget starts) / 100 s (segmenter: synthetic validation on the CPU follows) before TOTAL_MINUTES.
clamp_minutes() {  # clamp_minutes WANTED RESERVE_S
  "$PY" -c "import sys; w, r, t = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); print(round(max(0.2, min(w, (t * 60 - r) / 60)), 2))" "$1" "$2" "$TOTAL_MINUTES"
}
DL_MINUTES=$(clamp_minutes "$DL_MINUTES" 150)
SEG_MINUTES=$(clamp_minutes "$SEG_MINUTES" 100)
note() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }
left() { echo $(( TOTAL_MINUTES * 60 - ($(date +%s) - START) )); }

note "device_check start: SMOKE=$SMOKE DEVICE=$DEVICE dl folds [$DL_FOLDS] ${DL_MINUTES} min," \
     "seg folds [$SEG_FOLDS] ${SEG_MINUTES} min (size augmentation $SEG_RESIZE, harmonised $SEG_HARMONISE, atrophy $SEG_ATROPHY), shipped fold $SHIP"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  nproc; free -g | head -2
  "$PY" -c "import torch, numpy, sys; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__)"
  "$PY" -c "import nibabel, pywt; print('nibabel', nibabel.__version__, 'pywt', pywt.__version__)"
} >>"$LOG" 2>&1

# The shipped fold is written where it will be installed, so its manifest's retrain command names
# the real paths; the old shipped files are removed first, so that a failed training can never
# send the old weights back as new ones. SMOKE writes everything under $WORK.
dl_out() {
  if [ "$1" = "$SHIP" ] && [ "$SMOKE" != 1 ]; then echo "resources/models/$DL_NAME.pt"
  else echo "$WORK/dl$1/${DL_NAME}_fold$1.pt"; fi
}
seg_out() {
  if [ "$1" = "$SHIP" ] && [ "$SMOKE" != 1 ]; then echo resources/models/segmenter
  else echo "$WORK/seg$1"; fi
}
PIDS=()
for a in $DL_FOLDS; do
  out=$(dl_out "$a"); mkdir -p "$(dirname "$out")" "$WORK/dl$a"
  rm -f "$out" "${out%.pt}.json"
  (
    note "dl fold $a: start -> $out"
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 timeout $(( $(left) - 45 )) "$PY" benchmarks/device_run.py train-dl --config "$DL_CONFIG" \
      --out "$out" --workdir "$WORK/dl$a/work" --device "$DEVICE" --threads 2 \
      --workers "$DL_WORKERS" --max-minutes "$DL_MINUTES" --no-evaluate --restart \
      --test-anatomy "$a" >"$WORK/meta/dl_train_fold$a.log" 2>&1
    note "dl fold $a: exit $?"
  ) &
  PIDS+=($!)
done
for a in $SEG_FOLDS; do
  out=$(seg_out "$a"); mkdir -p "$out"
  rm -f "$out/segmenter.pt" "$out/manifest.json" "$out/checkpoint.pt"
  MAPS=()
  for m in 1 2 3; do [ "$m" = "$a" ] || MAPS+=("resources/anatomy/training_seg_0$m.nii.gz"); done
  (
    seg_train() {  # seg_train MAX_MINUTES SYNTHESIS_ARGS...
      local minutes=$1; shift
      OMP_NUM_THREADS=1 timeout $(( $(left) - 30 )) "$PY" benchmarks/device_run.py train-seg \
        --label-maps "${MAPS[@]}" --out "$out" --steps "$SEG_STEPS" --batch-size "$SEG_BATCH" \
        --base-channels "$SEG_BASE" --levels 4 --learning-rate 2e-3 --warmup-steps 100 \
        --device "$DEVICE" --threads 2 --max-minutes "$minutes" --validate 6 \
        --resize-probability "$SEG_RESIZE" --resize-range 0.3 --harmonise-probability "$SEG_HARMONISE" \
        --atrophy-probability "$SEG_ATROPHY" "$@" \
        >>"$WORK/meta/seg_train_fold$a.log" 2>&1
    }
    note "seg fold $a: start (maps ${MAPS[*]}, synthesis $SEG_SYNTH) -> $out"
    t0=$(date +%s)
    if [ "$SEG_SYNTH" = device ]; then
      seg_train "$SEG_MINUTES" --synth-on-device --workers 0; rc=$?
      if [ "$rc" != 0 ] && [ $(( $(date +%s) - t0 )) -lt 60 ]; then
        note "seg fold $a: synthesis on $DEVICE failed (exit $rc); restarting with $SEG_WORKERS CPU workers"
        rm -f "$out/checkpoint.pt"
        seg_train "$(clamp_minutes "$SEG_MINUTES" $(( 100 + $(date +%s) - START )))" --workers "$SEG_WORKERS"; rc=$?
      fi
    else
      seg_train "$SEG_MINUTES" --workers "$SEG_WORKERS"; rc=$?
    fi
    note "seg fold $a: exit $rc"
  ) &
  PIDS+=($!)
done
wait "${PIDS[@]}"
note "training done; $(left) s left"
nvidia-smi >>"$LOG" 2>&1

# --- optional CUDA speed benchmarks (after training, so they have the GPU to themselves) ---------
if [ "$BENCH" = 1 ]; then
  BENCH_DEVICES=cuda,cpu; QSM_DEVICES=cuda
  [ "$SMOKE" = 1 ] && { BENCH_DEVICES=cpu; QSM_DEVICES=cpu; }
  T=$(( $(left) - 15 )); T=$(( T / 2 < BENCH_S ? T / 2 : BENCH_S ))
  if [ "$T" -gt 5 ]; then
    note "bench: dl_speed (timeout $T s)"
    timeout "$T" "$PY" benchmarks/dl_speed.py --devices "$BENCH_DEVICES" --batch-planes 8,24 \
      --threads 8 --repeats 2 --train-steps 5 --train-batch 16 >>"$WORK/meta/bench.log" 2>&1
    note "bench: dl_speed exit $?"
  fi
  T=$(( $(left) - 15 )); T=$(( T < BENCH_S ? T : BENCH_S ))
  if [ "$T" -gt 5 ]; then
    note "bench: qsm_speed (timeout $T s)"
    timeout "$T" "$PY" benchmarks/qsm_speed.py --devices "$QSM_DEVICES" --sizes 96,160 \
      --modes eager,compiled --iterations 20 --threads 8 >>"$WORK/meta/bench.log" 2>&1
    note "bench: qsm_speed exit $?"
  fi
fi

# --- results -----------------------------------------------------------------------------------------
for a in $DL_FOLDS; do
  out=$(dl_out "$a")
  cp "$out" "$OUT/${DL_NAME}_fold$a.pt" 2>>"$LOG" || note "no DL weights for fold $a"
  cp "${out%.pt}.json" "$WORK/meta/${DL_NAME}_fold$a.json" 2>>"$LOG"
done
for a in $SEG_FOLDS; do
  out=$(seg_out "$a")
  cp "$out/segmenter.pt" "$OUT/segmenter_fold$a.pt" 2>>"$LOG" || note "no segmenter weights for fold $a"
  cp "$out/manifest.json" "$WORK/meta/segmenter_fold$a.json" 2>>"$LOG"
done
cp "$DL_CONFIG" "$WORK/meta/" 2>>"$LOG"
tar -czf "$OUT/logs.tar.gz" -C "$WORK/meta" . 2>>"$LOG"
ls -l "$OUT" >>"$LOG"
note "device_check end"
exit 0
