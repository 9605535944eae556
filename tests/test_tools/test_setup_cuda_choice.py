"""scripts/setup.sh --dry-run: which mmcv ops (CUDA or CPU) the set-up builds,
given a fake toolkit on PATH, and which torch build TORCH_INDEX_URL chooses.
Nothing is built or installed."""
import os
import re
import subprocess
from pathlib import Path
from typing import Dict, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
HEADERS = ('cuda_runtime.h', 'cublas_v2.h', 'cusparse.h', 'cusolverDn.h')


def _toolkit(root: Path, release: str = '13.0', headers=HEADERS,
             cudart: bool = True) -> Path:
    """A fake CUDA toolkit: bin/nvcc answering --version and --dryrun."""
    (root / 'bin').mkdir(parents=True)
    (root / 'include').mkdir()
    (root / 'lib64').mkdir()
    for h in headers:
        (root / 'include' / h).write_text('')
    if cudart:
        (root / 'lib64' / 'libcudart.so').write_text('')
    nvcc = root / 'bin' / 'nvcc'
    nvcc.write_text(
        '#!/bin/sh\n'
        'case "$*" in *--dryrun*) echo "#\\$ TOP=' + str(root) + '/bin/..";; '
        'esac\n'
        'case "$*" in *--version*) echo "nvcc: NVIDIA (R) Cuda compiler '
        'driver"; echo "Cuda compilation tools, release ' + release +
        ', V' + release + '.88";; esac\n')
    nvcc.chmod(0o755)
    return root


def _bin(tmp: Path, name: str, body: str) -> Path:
    path = tmp / 'fakebin'
    path.mkdir(exist_ok=True)
    (path / name).write_text('#!/bin/sh\n' + body)
    (path / name).chmod(0o755)
    return path


def _dry_run(tmp: Path, env: Dict[str, str], path_dirs=(),
             check: bool = True) -> subprocess.CompletedProcess:
    base = {'HOME': str(tmp), 'TD_SETUP_NVCC_FALLBACK': '',
            'TD_SETUP_TORCH_CUDA': '13.0',
            'PATH': os.pathsep.join([*map(str, path_dirs), '/usr/bin',
                                     '/bin'])}
    proc = subprocess.run(
        ['bash', str(REPO / 'scripts' / 'setup.sh'), '--dry-run'],
        env={**base, **env}, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _choice(proc: subprocess.CompletedProcess) -> Optional[str]:
    match = re.search(r'^\[setup dry-run\] mmcv ops: (\w+) \((.*)\)$',
                      proc.stdout, re.M)
    assert match, proc.stdout
    return match.group(1), match.group(2)


def _mmcv_command(proc: subprocess.CompletedProcess) -> str:
    return re.search(r'^\[setup dry-run\] mmcv: (.*)$', proc.stdout,
                     re.M).group(1)


def test_no_nvcc_builds_the_cpu_ops_and_says_how_to_get_cuda(tmp_path):
    build, reason = _choice(_dry_run(tmp_path, {}))
    assert build == 'cpu'
    assert reason.startswith('no nvcc')
    assert "MMCV_CUDA=1 make setup" in reason
    assert 'scripts/check_cuda_build.sh' in reason


def test_matching_toolkit_on_path_builds_the_cuda_ops(tmp_path):
    kit = _toolkit(tmp_path / 'cuda')
    proc = _dry_run(tmp_path, {}, [kit / 'bin'])
    build, reason = _choice(proc)
    assert build == 'cuda', reason
    # no GPU visible: the documented default architectures
    assert 'TORCH_CUDA_ARCH_LIST=7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX' in reason
    cmd = _mmcv_command(proc)
    assert 'FORCE_CUDA=1' in cmd and f"CUDA_HOME='{kit}'" in cmd
    assert '--no-cache-dir' in cmd  # never shares pip's cache with CPU
    assert 'mmcv-2.1.0-cuda13.0-7.5_8.0_8.6_8.9_9.0_10.0_12.0pPTX' in cmd
    assert '[setup dry-run] mmcv step: mmcv 2.1.0 (CUDA 13.0 ops)' \
        in proc.stdout


def test_arch_list_comes_from_the_visible_gpus_or_the_user(tmp_path):
    kit = _toolkit(tmp_path / 'cuda')
    smi = _bin(tmp_path, 'nvidia-smi', 'printf "9.0\\n8.0\\n9.0\\n"\n')
    _, reason = _choice(_dry_run(tmp_path, {}, [kit / 'bin', smi]))
    assert 'TORCH_CUDA_ARCH_LIST=8.0;9.0 (the visible GPUs)' in reason
    _, reason = _choice(_dry_run(
        tmp_path, {'TORCH_CUDA_ARCH_LIST': '8.6'}, [kit / 'bin', smi]))
    assert 'TORCH_CUDA_ARCH_LIST=8.6 (TORCH_CUDA_ARCH_LIST)' in reason


def test_a_wrapper_nvcc_on_path_finds_its_toolkit(tmp_path):
    kit = _toolkit(tmp_path / 'cuda-13.0')
    wrap = _bin(tmp_path, 'nvcc', f'exec {kit}/bin/nvcc "$@"\n')
    build, reason = _choice(_dry_run(tmp_path, {}, [wrap]))
    assert build == 'cuda', reason
    assert f'CUDA_HOME=\'{kit}\'' in _mmcv_command(
        _dry_run(tmp_path, {}, [wrap]))


def test_cuda_home_is_looked_at_first(tmp_path):
    kit = _toolkit(tmp_path / 'home-kit')
    other = _toolkit(tmp_path / 'path-kit', release='12.4')
    build, reason = _choice(_dry_run(tmp_path, {'CUDA_HOME': str(kit)},
                                     [other / 'bin']))
    assert build == 'cuda' and str(kit) in reason


@pytest.mark.parametrize('kit_kwargs,torch_cuda,expected', [
    (dict(release='12.4'), '13.0',
     'is CUDA 12.4 but torch was built with CUDA 13.0'),
    (dict(headers=('cuda_runtime.h',)), '13.0', 'lacks include/cublas_v2.h'),
    (dict(cudart=False), '13.0', 'no lib64/libcudart.so or lib/libcudart.so'),
    ({}, 'none', 'torch is a CPU build'),
])
def test_unusable_toolkit_builds_cpu_ops_and_forcing_cuda_fails(
        tmp_path, kit_kwargs, torch_cuda, expected):
    kit = _toolkit(tmp_path / 'cuda', **kit_kwargs)
    env = {'TD_SETUP_TORCH_CUDA': torch_cuda}
    build, reason = _choice(_dry_run(tmp_path, env, [kit / 'bin']))
    assert build == 'cpu' and expected in reason, reason
    forced = _dry_run(tmp_path, {**env, 'MMCV_CUDA': '1'}, [kit / 'bin'],
                      check=False)
    assert forced.returncode == 2
    assert 'MMCV_CUDA=1 but no usable CUDA toolkit' in forced.stderr
    assert expected in forced.stderr


def test_mmcv_cuda_0_forces_the_cpu_ops_and_bad_values_are_refused(tmp_path):
    kit = _toolkit(tmp_path / 'cuda')
    proc = _dry_run(tmp_path, {'MMCV_CUDA': '0'}, [kit / 'bin'])
    assert _choice(proc) == ('cpu', 'MMCV_CUDA=0 chooses the CPU ops')
    cmd = _mmcv_command(proc)
    assert 'FORCE_CUDA=0' in cmd and 'pip uninstall -y mmcv' in cmd
    bad = _dry_run(tmp_path, {'MMCV_CUDA': 'yes'}, [kit / 'bin'], check=False)
    assert bad.returncode == 2
    assert "MMCV_CUDA must be one of auto, 1, 0; got 'yes'" in bad.stderr


def test_torch_index_url_chooses_torch_and_torchvision_together(tmp_path):
    default = _dry_run(tmp_path, {})
    assert "'torch==2.13.0,!=2.13.0+cpu' 'torchvision==0.28.0'" in \
        default.stdout
    url = 'https://download.pytorch.org/whl/cu126'
    proc = _dry_run(tmp_path, {'TORCH_INDEX_URL': url,
                               'TD_SETUP_TORCH_CUDA': '12.6'},
                    [_toolkit(tmp_path / 'cuda', release='12.6') / 'bin'])
    torch_line = re.search(r'^\[setup dry-run\] torch: (.*)$', proc.stdout,
                           re.M).group(1)
    assert torch_line.endswith(
        f"--index-url '{url}' 'torch==2.13.0' 'torchvision==0.28.0'")
    # ... and mmcv's CUDA ops follow that torch's CUDA version
    build, reason = _choice(proc)
    assert build == 'cuda' and 'CUDA 12.6, as torch' in reason


def test_unknown_argument_is_refused(tmp_path):
    proc = subprocess.run(['bash', str(REPO / 'scripts' / 'setup.sh'),
                           '--dryrun'], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown argument '--dryrun' (valid: --dry-run)" in proc.stderr


def test_long_step_prints_a_heartbeat_with_the_last_compiled_file(tmp_path):
    log = tmp_path / 'logs'
    log.mkdir()
    install = ("echo '[3/97] /usr/bin/c++ -c /tmp/pip-x/mmcv/ops/csrc/pytorch/"
               "nms.cpp -o nms.o'; sleep 1.6; echo '  [4/97] nvcc -c "
               "/tmp/pip-x/mmcv/ops/csrc/pytorch/cuda/nms_cuda.cu -o n.o'; "
               "sleep 1.6")
    script = (f'ROOT={tmp_path}; PY=/bin/false; LOG_DIR={log}; '
              f'. {REPO}/scripts/setup_lib.sh; '
              f'step "slow build" "test -f {tmp_path}/done" '
              f'"{install}; touch {tmp_path}/done"')
    proc = subprocess.run(['bash', '-c', script], capture_output=True,
                          text=True, env={'SETUP_HEARTBEAT_S': '1',
                                          'PATH': '/usr/bin:/bin'})
    assert proc.returncode == 0, proc.stderr
    beats = re.findall(r'still running, (\d+) min, last: (.*)', proc.stdout)
    assert len(beats) >= 2, proc.stdout
    assert beats[0][1] == '[3/97] mmcv/ops/csrc/pytorch/nms.cpp'
    assert beats[-1][1] == '[4/97] mmcv/ops/csrc/pytorch/cuda/nms_cuda.cu'
    assert re.search(r'^\[setup  1\] slow build +done \(\d+s\)$', proc.stdout,
                     re.M), proc.stdout
