#!/usr/bin/env bash
# Verify the set-up's CUDA path on a machine without a GPU (compiling CUDA needs none).
#
# In a throwaway venv: install nvcc, its compiler parts and the CCCL headers as PyPI wheels
# (they land in the venv's nvidia/cu13, where torch's CUDA wheels put the runtime and the
# cuBLAS/cuSPARSE/cuSOLVER headers), then run scripts/setup.sh with MMCV_CUDA=1 and that
# folder as CUDA_HOME, and check what was built:
#   - mmcv.ops.get_compiling_cuda_version() equals the toolkit's version;
#   - from mmcv.ops import nms, RoIAlign;
#   - import mmdet, mmpose, mmaction.models, mmpretrain, td_plugins.
# Not part of `make test` or CI: on 2 cores the CUDA build takes about an hour.
#
#   bash scripts/check_cuda_build.sh            # TORCH_CUDA_ARCH_LIST=9.0 (H100/H200) by default
#   TORCH_CUDA_ARCH_LIST="8.0;9.0" bash scripts/check_cuda_build.sh
# Environment: CHECK_DIR (default /tmp/td_cuda_check; removed first), CUDA_WHEELS_VERSION
# (default 13.0, the pinned torch's CUDA), MAX_JOBS (default 2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHECK_DIR="${CHECK_DIR:-/tmp/td_cuda_check}"
CU="${CUDA_WHEELS_VERSION:-13.0}"
VENV="$CHECK_DIR/venv"
t0=$SECONDS
say() { printf '[check-cuda %3d min] %s\n' $(((SECONDS - t0) / 60)) "$*"; }

rm -rf "$CHECK_DIR"
mkdir -p "$CHECK_DIR/logs"
python3 -m venv "$VENV"
PY="$VENV/bin/python"
say "toolkit wheels for CUDA $CU into $VENV"
"$PY" -m pip install -q --progress-bar off "nvidia-cuda-nvcc==$CU.*" "nvidia-cuda-crt==$CU.*" \
  "nvidia-nvvm==$CU.*" "nvidia-cuda-cccl==$CU.*" "nvidia-cuda-runtime==$CU.*"
CUDA_HOME=$("$PY" -c 'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu" + "'"${CU%%.*}"'"))')
# The runtime wheel ships libcudart.so.13 only; the extension links -lcudart.
ln -sf "$(basename "$(ls "$CUDA_HOME"/lib/libcudart.so.* | head -n 1)")" "$CUDA_HOME/lib/libcudart.so"
say "nvcc: $("$CUDA_HOME/bin/nvcc" --version | grep release)"

say "scripts/setup.sh with MMCV_CUDA=1 CUDA_HOME=$CUDA_HOME TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}"
VENV="$VENV" CUDA_HOME="$CUDA_HOME" PATH="$CUDA_HOME/bin:$PATH" MMCV_CUDA=1 \
  TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MMCV_WHEEL_DIR="$CHECK_DIR/wheels" \
  SETUP_LOG_DIR="$CHECK_DIR/logs" bash "$ROOT/scripts/setup.sh"

say "checking what was built"
(cd / && "$PY" - "$CU" <<'EOF'
import sys
import mmcv
from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms  # noqa: F401
import mmdet, mmpose, mmaction.models, mmpretrain, td_plugins  # noqa: F401,E401
import torch
built = get_compiling_cuda_version()
print(f'toolkit CUDA {sys.argv[1]}; torch {torch.__version__} (CUDA {torch.version.cuda}); '
      f'mmcv {mmcv.__version__} ops compiled with CUDA {built}')
assert built == sys.argv[1], (built, sys.argv[1])
print('imports: mmcv.ops nms RoIAlign, mmdet, mmpose, mmaction.models, mmpretrain, td_plugins: ok')
EOF
)
say "passed in $((SECONDS - t0)) s"
