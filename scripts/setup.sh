#!/usr/bin/env bash
# Create .venv and install the pinned OpenMMLab stack measured in ENVIRONMENT.md.
# Idempotent: every step first checks whether its result is already there.
# Each step prints its name; a failing step names itself and the log that explains why.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
LOG_DIR="$ROOT/.setup-logs"
mkdir -p "$LOG_DIR"
export PIP_DISABLE_PIP_VERSION_CHECK=1

step_no=0
step() {  # step NAME CHECK_CMD INSTALL_CMD
  local name="$1" check="$2" install="$3"
  step_no=$((step_no + 1))
  local slug
  slug=$(printf '%s' "$name" | tr -c 'A-Za-z0-9.+-' '_')
  local log="$LOG_DIR/$(printf '%02d' $step_no)-$slug.log"
  if bash -c "$check" >/dev/null 2>&1; then
    printf '[setup %2d] %-34s already done\n' "$step_no" "$name"
    return 0
  fi
  printf '[setup %2d] %-34s ... (log: %s)' "$step_no" "$name" "${log#"$ROOT"/}"
  local t0=$SECONDS
  if bash -c "$install" >"$log" 2>&1 && bash -c "$check" >>"$log" 2>&1; then
    printf ' done (%ds)\n' $((SECONDS - t0))
  else
    printf ' FAILED after %ds\n' $((SECONDS - t0))
    echo "setup: step '$name' failed. Last lines of $log:" >&2
    if [ -s "$log" ]; then tail -n 25 "$log" >&2; else echo "  (the command printed nothing)" >&2; fi
    echo "setup: fix the cause and run 'make setup' again; finished steps are skipped." >&2
    exit 1
  fi
}

PIP="$PY -m pip install --progress-bar off"
# Import check that runs python in the venv.
has() { printf 'cd / && %s -c %q' "$PY" "$1"; }

step "virtual environment" "test -x '$PY'" "python3 -m venv '$VENV'"
# torch 2.13 needs setuptools>=77; mmengine 0.10.7 and mmcv 2.1.0 import pkg_resources,
# which setuptools>=81 no longer ships.
step "build tools (setuptools<81)" \
  "$(has 'import setuptools, wheel, ninja, pkg_resources; v=tuple(map(int, setuptools.__version__.split(".")[:2])); assert (77,0)<=v<(81,0)')" \
  "$PIP 'setuptools>=77,<81' wheel ninja"
# The machine's pip config offers a CPU-only 2.13.0+cpu wheel, against which torchvision
# 0.28.0 from PyPI fails ("operator torchvision::nms does not exist"): exclude it exactly.
step "torch 2.13.0 + torchvision 0.28.0" \
  "$(has 'import torch, torchvision; assert torch.__version__.split("+")[0]=="2.13.0" and not torch.__version__.endswith("+cpu"), torch.__version__; assert torchvision.__version__.split("+")[0]=="0.28.0"; import torchvision.ops; torchvision.ops.nms')" \
  "$PIP 'torch==2.13.0,!=2.13.0+cpu' 'torchvision==0.28.0'"
step "mmengine 0.10.7" \
  "$(has 'import mmengine; assert mmengine.__version__=="0.10.7"')" \
  "$PIP 'mmengine==0.10.7'"
# mmcv-lite has no ops and mmdet needs nms/RoIAlign; mmdet 3.3.0 refuses mmcv>=2.2.0.
# The sdist build takes ~15 min cold on 2 cores; pip caches the wheel, so later runs take seconds.
step "mmcv 2.1.0 (source build, CPU ops)" \
  "$(has 'import mmcv; assert mmcv.__version__=="2.1.0"; from mmcv.ops import nms, RoIAlign')" \
  "MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=\${MAX_JOBS:-2} $PIP --no-build-isolation 'mmcv==2.1.0'"
step "mmdet 3.3.0 + mmpretrain 1.2.0" \
  "$(has 'import mmdet, mmpretrain; assert mmdet.__version__=="3.3.0" and mmpretrain.__version__=="1.2.0"')" \
  "$PIP 'mmdet==3.3.0' 'mmpretrain==1.2.0'"
step "mmpose 1.3.2 + mmaction2 1.2.0" \
  "$(has 'import mmpose, mmaction; assert mmpose.__version__=="1.3.2" and mmaction.__version__=="1.2.0"')" \
  "$PIP 'mmpose==1.3.2' 'mmaction2==1.2.0'"
# xtcocotools' PyPI wheel is compiled against numpy 1 and fails on numpy 2 with
# "numpy.dtype size changed": rebuild it from source against the installed numpy.
step "xtcocotools rebuilt for numpy 2" \
  "$(has 'from xtcocotools.coco import COCO; from xtcocotools.cocoeval import COCOeval')" \
  "$PIP --no-build-isolation --no-binary xtcocotools --no-deps --force-reinstall 'xtcocotools==1.14.3'"
# mmaction2 1.2.0 on PyPI lacks mmaction/models/localizers/drn (upstream issue
# mmaction2#2714), so 'import mmaction.models' fails; make that one import tolerant.
step "mmaction2 missing drn (mmaction2#2714)" \
  "$(has 'import mmaction.models')" \
  "$PY '$ROOT/scripts/patch_mmaction_drn.py'"
export TD_PLUGINS_ROOT="$ROOT"
step "td_plugins (editable) + test tools" \
  "$(has 'import os, pytest, td_plugins; assert os.path.samefile(os.path.dirname(td_plugins.__file__), os.path.join(os.environ["TD_PLUGINS_ROOT"], "td_plugins"))')" \
  "$PIP --no-build-isolation --no-deps -e '$ROOT' && $PIP -r '$ROOT/requirements/tests.txt'"
# Optional group (requirements/optional.txt): onnx + onnxruntime for the ONNX
# export tool and its test. Last, so the core stack is complete without it.
step "optional: onnx + onnxruntime" \
  "$(has 'import os, onnx, onnxruntime; pins=dict(l.strip().split("==") for l in open(os.environ["TD_PLUGINS_ROOT"]+"/requirements/optional.txt") if "==" in l and not l.startswith("#")); assert pins=={"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}, pins')" \
  "$PIP -r '$ROOT/requirements/optional.txt'"
echo "[setup] ready: $VENV"
