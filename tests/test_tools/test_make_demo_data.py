"""tools/misc/make_demo_data.py: real formats, determinism, idempotence."""
import json
from pathlib import Path

import cv2
import pytest

from conftest import _load_generator

gen = _load_generator()
SCALE = 0.1  # a few images per split


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('demo')
    gen.make_demo_data(str(out), seed=0, scale=SCALE)
    return out


def _coco(path: Path) -> dict:
    coco = json.loads(path.read_text())
    images = {im['id']: im for im in coco['images']}
    assert images and coco['annotations']
    for ann in coco['annotations']:
        im = images[ann['image_id']]
        x, y, w, h = ann['bbox']
        assert w > 0 and h > 0
        assert x >= 0 and y >= 0
        assert x + w <= im['width'] + 1e-6 and y + h <= im['height'] + 1e-6
        assert ann['iscrowd'] == 0 and ann['area'] > 0
    return coco


@pytest.mark.parametrize('split', ['train', 'val'])
def test_detection_set_is_coco(data, split):
    root = data / 'coco_det'
    coco = _coco(root / 'annotations' / f'instances_{split}.json')
    assert [c['name'] for c in coco['categories']] == \
        ['circle', 'square', 'triangle']
    for im in coco['images']:
        img = cv2.imread(str(root / split / im['file_name']))
        assert img.shape[:2] == (im['height'], im['width'])
    from pycocotools.coco import COCO
    api = COCO(str(root / 'annotations' / f'instances_{split}.json'))
    assert len(api.getAnnIds()) == len(coco['annotations'])


def test_keypoint_set_has_17_coco_keypoints(data):
    coco = _coco(data / 'coco_kpt' / 'annotations' /
                 'person_keypoints_train.json')
    (cat, ) = coco['categories']
    assert cat['name'] == 'person' and len(cat['keypoints']) == 17
    assert cat['keypoints'][0] == 'nose' and cat['keypoints'][-1] == \
        'right_ankle'
    for ann in coco['annotations']:
        kpts = ann['keypoints']
        assert len(kpts) == 51
        assert ann['num_keypoints'] == sum(v > 0 for v in kpts[2::3]) > 0


def test_action_clips_decode_and_cover_all_classes(data):
    root = data / 'action'
    classes = (root / 'classes.txt').read_text().split()
    assert classes == ['move_right', 'move_left', 'move_down', 'move_up']
    lines = (root / 'train_list_videos.txt').read_text().splitlines()
    labels = {int(line.split()[1]) for line in lines}
    assert labels == set(range(len(classes)))
    name = lines[0].split()[0]
    cap = cv2.VideoCapture(str(root / 'videos' / name))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == gen.ACTION_NUM_FRAMES


def test_classification_folder_matches_its_lists(data):
    root = data / 'cls'
    for split in ('train', 'val'):
        for line in (root / 'meta' / f'{split}.txt').read_text().splitlines():
            rel, label = line.split()
            assert (root / split / rel).is_file()
            assert rel.split('/')[0] == gen.CLS_CLASSES[int(label)]


def _files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()
            and p.suffix in ('.json', '.txt', '.png', '.jpg')}


def test_same_seed_same_bytes_other_seed_differs(data, tmp_path):
    gen.make_demo_data(str(tmp_path / 'a'), seed=0, scale=SCALE,
                       only='det,cls')
    gen.make_demo_data(str(tmp_path / 'b'), seed=1, scale=SCALE,
                       only='det,cls')
    for folder in ('coco_det', 'cls'):
        same = _files(tmp_path / 'a' / folder)
        assert same == _files(data / folder)
        assert same != _files(tmp_path / 'b' / folder)


def test_second_run_is_skipped_and_force_rebuilds(data, capsys):
    gen.make_demo_data(str(data), seed=0, scale=SCALE, only=['cls'])
    assert 'up to date' in capsys.readouterr().out
    gen.make_demo_data(str(data), seed=0, scale=SCALE, only=['cls'],
                       force=True)
    assert 'up to date' not in capsys.readouterr().out


@pytest.mark.parametrize('kwargs,match', [
    (dict(only='det,segm'), r'`only`.*valid values are det, kpt, action, cls'),
    (dict(seed=-1), '`seed`'),
    (dict(scale=0), '`scale`'),
])
def test_invalid_arguments_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gen.make_demo_data(str(tmp_path), **kwargs)
