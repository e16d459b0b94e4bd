#!/usr/bin/env bash
# The fault load case of issue #17: a joblib multirun of 42 short jobs (6 cases x 7 seeds), a third
# of which fail on purpose (a diverging learning rate, a missing data folder); then the report.
#   bash experiments/faults_load/run.sh [SWEEP_DIR]    (default outputs/multirun/faults_load)
# The report (report.md, report.csv) is copied next to this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-outputs/multirun/faults_load}
PY=${PY:-.venv/bin/python}
rm -rf "$OUT"
start=$(date +%s)
"$PY" -m restore.train -m hydra/launcher=parallel \
    "hydra.searchpath=[file://$PWD/experiments/faults_load/conf]" \
    +case=ok_gaussian,ok_uniform,ok_salt_pepper,ok_sigma50,diverge,missing_data \
    seed=1,2,3,4,5,6,7 \
    trainer.accelerator=cpu data.patch_size=32 data.batch_size=8 data.patches_per_epoch=32 \
    data.val_crop=64 model.depth=4 model.width=16 trainer.max_epochs=1 logger=csv \
    callbacks.image_samples=null "hydra.sweep.dir=$OUT" || echo "multirun exit code: $?"
echo "sweep: $(($(date +%s) - start)) s"
"$PY" -m restore.report "$OUT" --no-grid
cp "$OUT"/report.md "$OUT"/report.csv experiments/faults_load/
