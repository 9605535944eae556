"""Tests of tools/misc/make_demo_data.py (small ``scale`` for speed)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import load_script

SCALE = 0.1


@pytest.fixture(scope='module')
def gen():
    """The generator module, imported from its path (tools/ is no
    package)."""
    return load_script('tools/misc/make_demo_data.py')


@pytest.fixture(scope='module')
def demo(gen, tmp_path_factory):
    """All four datasets, seed 0, generated once for the module."""
    out = tmp_path_factory.mktemp('demo_a')
    paths = gen.make_demo_data(str(out), seed=0, scale=SCALE)
    return {name: Path(path) for name, path in paths.items()}


def _load(path):
    with open(path) as f:
        return json.load(f)


def _check_coco_common(root, ann_file, split, size):
    coco = _load(root / 'annotations' / ann_file)
    images = {img['id']: img for img in coco['images']}
    assert images and len(images) == len(coco['images'])
    for img in images.values():
        assert img['width'] == img['height'] == size
        pixels = cv2.imread(str(root / split / img['file_name']))
        assert pixels is not None and pixels.shape == (size, size, 3)
    ann_ids = [ann['id'] for ann in coco['annotations']]
    assert len(set(ann_ids)) == len(ann_ids) and min(ann_ids) >= 1
    for ann in coco['annotations']:
        assert ann['image_id'] in images
        x, y, w, h = ann['bbox']
        assert w > 0 and h > 0
        assert x >= 0 and y >= 0 and x + w <= size and y + h <= size
        assert ann['area'] == pytest.approx(w * h, abs=0.01)
        assert ann['iscrowd'] == 0
    return coco


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_det_consistent(gen, demo, split):
    root = demo['det']
    assert root.name == 'coco_det'
    coco = _check_coco_common(root, f'instances_{split}.json', split,
                              gen.DET_IMAGE_SIZE)
    assert coco['categories'] == [
        dict(id=1, name='circle', supercategory='shape'),
        dict(id=2, name='square', supercategory='shape'),
        dict(id=3, name='triangle', supercategory='shape'),
    ]
    per_image = {img['id']: 0 for img in coco['images']}
    for ann in coco['annotations']:
        per_image[ann['image_id']] += 1
        assert ann['category_id'] in (1, 2, 3)
        poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
        x, y, w, h = ann['bbox']
        assert poly.min(axis=0) == pytest.approx([x, y], abs=0.02)
        assert poly.max(axis=0) == pytest.approx([x + w, y + h], abs=0.02)
    assert all(1 <= n <= gen.DET_MAX_OBJECTS for n in per_image.values())


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_kpt_consistent(gen, demo, split):
    root = demo['kpt']
    size = gen.KPT_IMAGE_SIZE
    coco = _check_coco_common(root, f'person_keypoints_{split}.json', split,
                              size)
    (category, ) = coco['categories']
    assert category['id'] == 1 and category['name'] == 'person'
    assert category['supercategory'] == 'person'
    assert category['keypoints'][:3] == ['nose', 'left_eye', 'right_eye']
    assert category['keypoints'][-1] == 'right_ankle'
    assert len(category['keypoints']) == 17
    assert len(category['skeleton']) == 19
    assert [16, 14] in category['skeleton']
    for ann in coco['annotations']:
        assert ann['category_id'] == 1
        kpts = np.array(ann['keypoints'], dtype=float).reshape(-1, 3)
        assert kpts.shape == (17, 3)
        assert set(kpts[:, 2]) <= {0.0, 2.0}
        visible = kpts[kpts[:, 2] > 0, :2]
        assert ann['num_keypoints'] == len(visible) > 0
        assert np.all(kpts[kpts[:, 2] == 0, :2] == 0)
        x, y, w, h = ann['bbox']
        assert np.all(visible >= [x, y])
        assert np.all(visible <= [x + w, y + h])


def test_action_videos(gen, demo):
    root = demo['action']
    classes = (root / 'classes.txt').read_text().split()
    assert classes == ['move_right', 'move_left', 'move_down', 'move_up']
    for split in ('train', 'val'):
        lines = (root / f'{split}_list_videos.txt').read_text().splitlines()
        labels = {int(line.split()[1]) for line in lines}
        assert labels == set(range(len(classes)))
        for line in lines:
            name, _ = line.split()
            path = root / 'videos' / name
            cap = cv2.VideoCapture(str(path))
            frames = []
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(frame)
            cap.release()
            assert len(frames) == gen.ACTION_NUM_FRAMES
            assert frames[0].shape == (gen.ACTION_IMAGE_SIZE,
                                       gen.ACTION_IMAGE_SIZE, 3)
            assert not np.array_equal(frames[0], frames[-1])  # it moves


def test_cls_layout(gen, demo):
    root = demo['cls']
    classes = (root / 'meta' / 'classes.txt').read_text().split()
    assert classes == ['circle', 'square', 'triangle', 'cross']
    for split in ('train', 'val'):
        lines = (root / 'meta' / f'{split}.txt').read_text().splitlines()
        assert {int(line.split()[1]) for line in lines} == {0, 1, 2, 3}
        for line in lines:
            rel, label = line.split()
            assert rel.split('/')[0] == classes[int(label)]
            img = cv2.imread(str(root / split / rel))
            assert img.shape == (gen.CLS_IMAGE_SIZE, gen.CLS_IMAGE_SIZE, 3)


def _files(root):
    return {p.relative_to(root): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_deterministic(gen, demo, tmp_path):
    names = ['det', 'kpt', 'cls']
    same = gen.make_demo_data(str(tmp_path / 'b'), seed=0, only=names,
                              scale=SCALE)
    other = gen.make_demo_data(str(tmp_path / 'c'), seed=1, only=names,
                               scale=SCALE)
    for name in names:
        first, second = _files(demo[name]), _files(Path(same[name]))
        assert first == second  # annotations and every image byte
        third = _files(Path(other[name]))
        assert first.keys() == third.keys()
        differing = [k for k in first if first[k] != third[k]]
        assert any(k.suffix in ('.json', '.png') for k in differing)
        assert any(k.suffix in ('.jpg', '.png') and k.parts[0] != 'meta'
                   for k in differing)


def test_stamp_skip_and_force(gen, tmp_path, capsys):
    out = str(tmp_path)
    folder = Path(gen.make_demo_data(out, only=['cls'], scale=SCALE)['cls'])
    assert (folder / gen.STAMP_FILE).is_file()
    marker = folder / 'marker'
    marker.write_text('x')
    capsys.readouterr()

    gen.make_demo_data(out, only='cls', scale=SCALE)
    assert 'up to date' in capsys.readouterr().out
    assert marker.exists()  # skipped, folder untouched

    gen.make_demo_data(out, only=['cls'], scale=SCALE, force=True)
    assert 'up to date' not in capsys.readouterr().out
    assert not marker.exists() and (folder / gen.STAMP_FILE).is_file()

    marker.write_text('x')
    gen.make_demo_data(out, seed=3, only=['cls'], scale=SCALE)
    assert not marker.exists()  # another seed is another dataset
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cls']  # no tmp


def test_failed_build_leaves_nothing(gen, tmp_path):
    folder = tmp_path / 'ds'

    def fail(root):
        (root / 'half.txt').write_text('x')
        raise RuntimeError('killed')

    with pytest.raises(RuntimeError):
        gen.build_atomically(folder, fail, 'stamp')
    assert list(tmp_path.iterdir()) == []


def test_only_validation(gen, tmp_path):
    with pytest.raises(ValueError, match='only') as info:
        gen.make_demo_data(str(tmp_path), only=['det', 'segm'])
    for valid in ('det', 'kpt', 'action', 'cls'):
        assert valid in str(info.value)
    assert 'segm' in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_cli(gen, tmp_path, capsys):
    assert gen.main(['--out', str(tmp_path), '--only', 'cls', '--scale',
                     str(SCALE)]) == 0
    assert (tmp_path / 'cls' / 'meta' / 'train.txt').is_file()
    assert gen.main(['--out', str(tmp_path), '--only', 'nope']) == 2
    assert '`only`' in capsys.readouterr().err
