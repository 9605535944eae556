"""tools/misc/gpu_table.py: the table in docs/training.md is its output, and
its reading of a config follows the config."""
import importlib.util
import re
from pathlib import Path

from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    'gpu_table', REPO / 'tools' / 'misc' / 'gpu_table.py')
gpu_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_table)


def test_docs_table_is_the_tools_output():
    doc = (REPO / 'docs' / 'training.md').read_text()
    body = re.search(
        r'<!-- gpu_table:begin -->\n(.*?)\n<!-- gpu_table:end -->', doc,
        re.S).group(1)
    assert body == gpu_table.table(REPO / 'configs')


def test_every_shipped_config_is_listed_and_no_demo():
    paths = gpu_table.shipped_configs(REPO / 'configs')
    assert REPO / 'configs' / 'fcos_tdaf_r50.py' in paths
    assert not [p for p in paths if 'demo' in p.parts or '_base_' in p.parts]
    assert len(paths) >= 50


def test_rows_follow_the_config(tmp_path):
    base = REPO / 'configs' / 'tdam' / 'tdam-joint-t2m2_resnet18_8xb64_in1k.py'
    row = gpu_table.row(base, REPO / 'configs')
    assert '| 8 × 64 = 512 |' in row
    assert 'averaged over GPUs every epoch' in row
    # 4 images per GPU on 16 GPUs, no --dist-bn hook, AMP already on
    child = tmp_path / 'configs' / 'child.py'
    child.parent.mkdir()
    child.write_text(
        f"_base_ = '{base}'\n"
        "train_dataloader = dict(batch_size=4)\n"
        "auto_scale_lr = dict(base_batch_size=64)\n"
        "custom_hooks = []\n"
        "optim_wrapper = dict(type='AmpOptimWrapper')\n")
    assert Config.fromfile(str(child)).train_dataloader.batch_size == 4
    assert gpu_table.row(child, tmp_path / 'configs') == \
        '| `configs/child.py` | 16 × 4 = 64 | AMP already | BN per GPU |'
