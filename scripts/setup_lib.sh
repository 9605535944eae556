# Functions for scripts/setup.sh and scripts/check_cuda_build.sh (sourced, not run).
#
#   step NAME CHECK INSTALL   run INSTALL unless CHECK already passes; a heartbeat line
#                             every SETUP_HEARTBEAT_S seconds (default 60) while it runs
#   choose_mmcv_build         decide CPU or CUDA ops for mmcv (see the comment below)
#
# Callers set ROOT, PY and LOG_DIR first.

step_no=${step_no:-0}

# The newest compiled source file and ninja's [done/total] counter in a build log.
_build_progress() {  # LOG
  local file count
  file=$(grep -aoE '[^ "'\'']+\.(cu|cpp|cc)([ "'\'']|$)' "$1" 2>/dev/null | tail -n 1 \
    | tr -d ' "'\''' | sed 's#.*/mmcv/#mmcv/#')
  count=$(grep -aoE '^ *\[[0-9]+/[0-9]+\]' "$1" 2>/dev/null | tail -n 1 | tr -d ' ')  # pip -v indents
  printf '%s%s' "${count:+$count }" "${file:-(no compiled file in the log yet)}"
}

_heartbeat() {  # STEP_NO LOG T0
  local every="${SETUP_HEARTBEAT_S:-60}"
  while sleep "$every"; do
    printf '\n[setup %2d]   ... still running, %d min, last: %s' "$1" \
      $(((SECONDS - $3) / 60)) "$(_build_progress "$2")"
    : >"$2.beat"
  done
}

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
  local t0=$SECONDS ok=0 beat
  : >"$log"
  _heartbeat "$step_no" "$log" "$t0" &
  beat=$!
  if bash -c "$install" >>"$log" 2>&1 && bash -c "$check" >>"$log" 2>&1; then ok=1; fi
  kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null
  local tail=""  # after heartbeat lines the verdict gets a line of its own
  if [ -e "$log.beat" ]; then
    tail=$(printf '\n[setup %2d] %-34s' "$step_no" "$name")
    rm -f "$log.beat"
  fi
  if [ "$ok" = 1 ]; then
    printf '%s done (%ds)\n' "$tail" $((SECONDS - t0))
  else
    printf '%s FAILED after %ds\n' "$tail" $((SECONDS - t0))
    echo "setup: step '$name' failed. Last lines of $log:" >&2
    if [ -s "$log" ]; then tail -n 25 "$log" >&2; else echo "  (the command printed nothing)" >&2; fi
    echo "setup: fix the cause and run 'make setup' again; finished steps are skipped." >&2
    exit 1
  fi
}

# --- mmcv's ops: CUDA or CPU ---------------------------------------------------------------
# MMCV_CUDA=auto (default): CUDA ops when a usable toolkit is found, CPU ops otherwise.
#   Usable: an nvcc ($CUDA_HOME/bin/nvcc, else nvcc on PATH, else /usr/local/cuda/bin/nvcc)
#   whose major.minor release equals torch.version.cuda, and a toolkit root (where nvcc says
#   it lives) whose include/ has the runtime's and cuBLAS/cuSPARSE/cuSOLVER's headers.
# MMCV_CUDA=1: CUDA ops, or fail saying what is missing.   MMCV_CUDA=0: CPU ops.
# TORCH_CUDA_ARCH_LIST: kept when set; else the compute capabilities nvidia-smi lists;
#   else MMCV_DEFAULT_ARCH_LIST (every architecture CUDA 13.0 compiles for, PTX for newer).
# Sets MMCV_BUILD (cuda|cpu), MMCV_CUDA_HOME, MMCV_CUDA_VERSION, MMCV_ARCH_LIST,
# MMCV_ARCH_SOURCE and MMCV_REASON. Returns 1 (with MMCV_REASON) on a refused setting.
MMCV_DEFAULT_ARCH_LIST="7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX"

# The last place looked at; TD_SETUP_NVCC_FALLBACK overrides it (the tests set it empty).
NVCC_FALLBACK="${TD_SETUP_NVCC_FALLBACK-/usr/local/cuda/bin/nvcc}"

_find_nvcc() {
  if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
    echo "$CUDA_HOME/bin/nvcc"
  elif command -v nvcc >/dev/null 2>&1; then
    command -v nvcc
  elif [ -n "$NVCC_FALLBACK" ] && [ -x "$NVCC_FALLBACK" ]; then
    echo "$NVCC_FALLBACK"
  fi
}

# torch's CUDA version ("none" for a CPU torch): TD_SETUP_TORCH_CUDA if set (the tests' dry
# runs), else the venv's torch, else (torch not installed yet, a dry run) the pinned PyPI
# wheel's 13.0 unless TORCH_INDEX_URL chooses another build.
_torch_cuda() {
  local v=""
  if [ -n "${TD_SETUP_TORCH_CUDA:-}" ]; then
    echo "$TD_SETUP_TORCH_CUDA"
    return
  fi
  if [ -x "$PY" ]; then
    v=$(cd / && "$PY" -c 'import torch; print(torch.version.cuda or "none")' 2>/dev/null)
  fi
  if [ -z "$v" ] && [ -z "${TORCH_INDEX_URL:-}" ]; then v=13.0; fi
  echo "$v"
}

# The toolkit's root, as nvcc itself reports it (TOP=...), so that a wrapper script on PATH
# (e.g. /usr/local/bin/nvcc exec-ing /usr/local/cuda-13.0/bin/nvcc) still finds the headers.
_cuda_home() {  # NVCC
  local top
  top=$("$1" --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)
  [ -n "$top" ] && [ -d "$top" ] || top="$(dirname "$1")/.."
  (cd "$top" && pwd)
}

# What building a torch CUDA extension includes: the runtime, and the libraries that
# ATen/cuda/CUDAContextLight.h includes.
CUDA_HEADERS="cuda_runtime.h cublas_v2.h cusparse.h cusolverDn.h"

_gpu_arch_list() {  # the visible GPUs' compute capabilities, e.g. "9.0" or "8.0;8.6"
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null \
    | tr -d ' ' | grep -E '^[0-9]+\.[0-9]+$' | sort -u -t. -k1,1n -k2,2n | paste -sd ';'
}

choose_mmcv_build() {
  local want="${MMCV_CUDA:-auto}" nvcc home ver torch_cuda missing=""
  MMCV_BUILD=cpu MMCV_CUDA_HOME="" MMCV_CUDA_VERSION="" MMCV_ARCH_LIST="" MMCV_ARCH_SOURCE=""
  case "$want" in
    auto | 1 | 0) ;;
    *) MMCV_REASON="MMCV_CUDA must be one of auto, 1, 0; got '$want'"; return 1 ;;
  esac
  if [ "$want" = 0 ]; then
    MMCV_REASON="MMCV_CUDA=0 chooses the CPU ops"
    return 0
  fi
  nvcc=$(_find_nvcc)
  torch_cuda=$(_torch_cuda)
  if [ -z "$nvcc" ]; then
    missing="no nvcc (looked at \$CUDA_HOME/bin, PATH, /usr/local/cuda/bin)"
  else
    home=$(_cuda_home "$nvcc")
    ver=$("$nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)
    if [ -z "$ver" ]; then
      missing="$nvcc --version reports no release"
    elif [ -z "$torch_cuda" ]; then
      missing="torch is not installed yet, so its CUDA version is unknown"
    elif [ "$torch_cuda" = none ]; then
      missing="torch is a CPU build (torch.version.cuda is None), nvcc $ver is of no use to it"
    elif [ "$ver" != "$torch_cuda" ]; then
      missing="nvcc $nvcc is CUDA $ver but torch was built with CUDA $torch_cuda"
    else
      local h
      for h in $CUDA_HEADERS; do
        if [ ! -f "$home/include/$h" ]; then
          missing="the toolkit at $home lacks include/$h (torch's CUDA headers include it)"
          break
        fi
      done
      if [ -z "$missing" ] && [ ! -e "$home/lib64/libcudart.so" ] && [ ! -e "$home/lib/libcudart.so" ]; then
        missing="the toolkit at $home has no lib64/libcudart.so or lib/libcudart.so to link (a pip-wheel toolkit ships only libcudart.so.13: link it as lib/libcudart.so)"
      fi
    fi
  fi
  if [ -n "$missing" ]; then
    if [ "$want" = 1 ]; then
      MMCV_REASON="MMCV_CUDA=1 but no usable CUDA toolkit: $missing"
      return 1
    fi
    local tv="$torch_cuda"
    case "$tv" in none | "") tv=13.0 ;; esac
    MMCV_REASON="$missing. For the CUDA ops install a CUDA $tv toolkit (or its PyPI wheels, as scripts/check_cuda_build.sh installs them) and run 'MMCV_CUDA=1 make setup'"
    return 0
  fi
  MMCV_BUILD=cuda MMCV_CUDA_HOME="$home" MMCV_CUDA_VERSION="$ver"
  if [ -n "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    MMCV_ARCH_LIST="$TORCH_CUDA_ARCH_LIST" MMCV_ARCH_SOURCE="TORCH_CUDA_ARCH_LIST"
  else
    MMCV_ARCH_LIST=$(_gpu_arch_list)
    if [ -n "$MMCV_ARCH_LIST" ]; then
      MMCV_ARCH_SOURCE="the visible GPUs"
    else
      MMCV_ARCH_LIST="$MMCV_DEFAULT_ARCH_LIST" MMCV_ARCH_SOURCE="default, no GPU visible"
    fi
  fi
  MMCV_REASON="nvcc $nvcc (CUDA $ver, as torch), TORCH_CUDA_ARCH_LIST=$MMCV_ARCH_LIST ($MMCV_ARCH_SOURCE)"
}
