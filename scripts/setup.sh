#!/usr/bin/env bash
# Create .venv and install the pinned OpenMMLab stack measured in ENVIRONMENT.md.
# Idempotent: every step first checks whether its result is already there.
# Each step prints its name; a failing step names itself and the log that explains why.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
LOG_DIR="${SETUP_LOG_DIR:-$ROOT/.setup-logs}"
mkdir -p "$LOG_DIR"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# shellcheck source=scripts/setup_lib.sh
. "$ROOT/scripts/setup_lib.sh"

# Dry run (`bash scripts/setup.sh --dry-run` or SETUP_DRY_RUN=1): print the torch and mmcv
# choices and the commands they lead to; build and install nothing.
DRY_RUN="${SETUP_DRY_RUN:-0}"
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    *) echo "setup: unknown argument '$arg' (valid: --dry-run)" >&2; exit 2 ;;
  esac
done

PIP="$PY -m pip install --progress-bar off"
# Import check that runs python in the venv.
has() { printf 'cd / && %s -c %q' "$PY" "$1"; }

# TORCH_INDEX_URL chooses the torch build (the one variable for drivers older than CUDA 13.0,
# e.g. https://download.pytorch.org/whl/cu126): torch and torchvision come from it together,
# the check asserts they share a CUDA version, and mmcv's CUDA ops are then built for it.
# Unset: the pinned PyPI wheels (CUDA 13.0). The machine's pip config offers a CPU-only
# 2.13.0+cpu wheel, against which torchvision 0.28.0 from PyPI fails ("operator
# torchvision::nms does not exist"): without an index it is excluded exactly.
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  TORCH_INSTALL="$PIP --index-url '$TORCH_INDEX_URL' 'torch==2.13.0' 'torchvision==0.28.0'"
  TORCH_NOT_CPU=""
else
  TORCH_INSTALL="$PIP 'torch==2.13.0,!=2.13.0+cpu' 'torchvision==0.28.0'"
  TORCH_NOT_CPU=' and not torch.__version__.endswith("+cpu")'
fi
TORCH_CHECK="$(has 'import torch, torchvision; assert torch.__version__.split("+")[0]=="2.13.0"'"$TORCH_NOT_CPU"', torch.__version__; assert torchvision.__version__.split("+")[0]=="0.28.0"; c=getattr(torchvision.version, "cuda", None); c=f"{c//1000}.{c%1000//10}" if isinstance(c, int) else c; assert c==torch.version.cuda, ("torchvision CUDA", c, "torch CUDA", torch.version.cuda); import torchvision.ops; torchvision.ops.nms')"

# mmcv-lite has no ops and mmdet needs nms/RoIAlign; mmdet 3.3.0 refuses mmcv>=2.2.0, and
# PyPI has no mmcv 2.1.0 wheel, CUDA or CPU: it is built from the sdist (~15 min cold on 2
# cores for the CPU ops). pip caches the CPU wheel, so later runs take seconds. A CUDA wheel
# would share that cache entry with the CPU one, so it is built with pip's cache off into
# MMCV_WHEEL_DIR, a folder named for its CUDA version and architectures, and installed from
# there. The check verifies what was built: mmcv's compiled CUDA version, or none.
mmcv_plan() {
  MMCV_WHEELS="${MMCV_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/td_plugins/wheels}/mmcv-2.1.0-cuda$MMCV_CUDA_VERSION-$(printf '%s' "$MMCV_ARCH_LIST" | tr ';+' '_p')"
  if [ "$MMCV_BUILD" = cuda ]; then
    MMCV_STEP="mmcv 2.1.0 (CUDA $MMCV_CUDA_VERSION ops)"
    MMCV_CHECK="$(has 'import mmcv; assert mmcv.__version__=="2.1.0"; from mmcv.ops import nms, RoIAlign, get_compiling_cuda_version as v; print("mmcv ops compiled with CUDA", v()); assert v()=="'"$MMCV_CUDA_VERSION"'", v()')"
    MMCV_INSTALL="set -e; if ! ls '$MMCV_WHEELS'/mmcv-2.1.0-*.whl >/dev/null 2>&1; then CUDA_HOME='$MMCV_CUDA_HOME' PATH='$MMCV_CUDA_HOME/bin':\$PATH FORCE_CUDA=1 MMCV_WITH_OPS=1 TORCH_CUDA_ARCH_LIST='$MMCV_ARCH_LIST' MAX_JOBS=\${MAX_JOBS:-2} $PY -m pip wheel -v --no-deps --no-build-isolation --no-cache-dir 'mmcv==2.1.0' -w '$MMCV_WHEELS'; fi; $PY -m pip uninstall -y mmcv || true; $PIP '$MMCV_WHEELS'/mmcv-2.1.0-*.whl"
  else
    MMCV_STEP="mmcv 2.1.0 (source build, CPU ops)"
    MMCV_CHECK="$(has 'import mmcv; assert mmcv.__version__=="2.1.0"; from mmcv.ops import nms, RoIAlign, get_compiling_cuda_version as v; print("mmcv ops compiled with CUDA", v()); assert v()=="not available", v()')"
    MMCV_INSTALL="set -e; $PY -m pip uninstall -y mmcv || true; MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=\${MAX_JOBS:-2} $PIP -v --no-build-isolation 'mmcv==2.1.0'"
  fi
  if [ "${MMCV_CUDA:-auto}" = auto ]; then
    # auto keeps a working build of either kind (idempotent): a CPU build made before a
    # toolkit arrived stays until 'MMCV_CUDA=1 make setup' rebuilds it with the CUDA ops.
    MMCV_CHECK="$(has 'import mmcv, torch; assert mmcv.__version__=="2.1.0"; from mmcv.ops import nms, RoIAlign, get_compiling_cuda_version as v; print("mmcv ops compiled with CUDA", v()); assert v() in ("not available", torch.version.cuda), v()')"
  fi
}

mmcv_report() {  # what the installed mmcv's ops were compiled with
  local built
  built=$(cd / && "$PY" -c 'from mmcv.ops import get_compiling_cuda_version as v; print(v())' 2>/dev/null)
  if [ "$built" = "not available" ]; then
    printf '[setup] mmcv ops installed: CPU only'
    if [ "$MMCV_BUILD" = cuda ]; then
      printf ' (kept from before; a CUDA toolkit is usable now: MMCV_CUDA=1 make setup rebuilds them with CUDA)'
    fi
    printf '\n'
  else
    echo "[setup] mmcv ops installed: compiled with CUDA $built"
  fi
}

if [ "$DRY_RUN" = 1 ]; then
  if choose_mmcv_build; then :; else echo "setup: $MMCV_REASON" >&2; exit 2; fi
  mmcv_plan
  echo "[setup dry-run] torch: $TORCH_INSTALL"
  echo "[setup dry-run] mmcv ops: $MMCV_BUILD ($MMCV_REASON)"
  echo "[setup dry-run] mmcv step: $MMCV_STEP"
  echo "[setup dry-run] mmcv: $MMCV_INSTALL"
  exit 0
fi

step "virtual environment" "test -x '$PY'" "python3 -m venv '$VENV'"
# torch 2.13 needs setuptools>=77; mmengine 0.10.7 and mmcv 2.1.0 import pkg_resources,
# which setuptools>=81 no longer ships.
step "build tools (setuptools<81)" \
  "$(has 'import setuptools, wheel, ninja, pkg_resources; v=tuple(map(int, setuptools.__version__.split(".")[:2])); assert (77,0)<=v<(81,0)')" \
  "$PIP 'setuptools>=77,<81' wheel ninja"
step "torch 2.13.0 + torchvision 0.28.0" "$TORCH_CHECK" "$TORCH_INSTALL"
step "mmengine 0.10.7" \
  "$(has 'import mmengine; assert mmengine.__version__=="0.10.7"')" \
  "$PIP 'mmengine==0.10.7'"
# The mmcv decision needs the installed torch's CUDA version, so it is made here.
if choose_mmcv_build; then :; else echo "setup: $MMCV_REASON" >&2; exit 2; fi
echo "[setup] mmcv ops: $MMCV_BUILD ($MMCV_REASON)"
mmcv_plan
step "$MMCV_STEP" "$MMCV_CHECK" "$MMCV_INSTALL"
mmcv_report
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
# openmim (mim train/test/search on an installed td_plugins) and build (the wheel test).
# --no-deps: openmim requires opendatalab, whose openxlab pins setuptools~=60.2 and would
# downgrade the stack; mim uses it only for 'mim download --dataset' (docs/packaging.md).
step "optional: openmim 0.3.9 + build" "$(has 'import build, mim.version as v; assert v.__version__=="0.3.9"')" "$PIP --no-deps -r '$ROOT/requirements/mim.txt'"
# The linter and import sorter that .ci/run runs before the tests (`make lint`).
step "lint: ruff 0.17.6" "$(has 'import importlib.metadata as m; assert m.version("ruff")=="0.17.6"')" "$PIP -r '$ROOT/requirements/lint.txt'"
echo "[setup] ready: $VENV"
