"""Heat-map panels of BGR pictures (docs/visualization.md, "Panels")."""
from typing import List, Sequence, Tuple

import cv2
import numpy as np

Panel = Tuple[str, np.ndarray]  # (title, BGR uint8 picture)


def colour_overlay(mask: np.ndarray, image: np.ndarray,
                   alpha: float = 0.55) -> Tuple[np.ndarray, float, float]:
    """``(picture, lo, hi)``: ``mask`` min-max stretched, in JET, on ``image``.

    Example:
        >>> colour_overlay(np.eye(2), np.zeros((4, 6, 3), np.uint8))[1:]
        (0.0, 1.0)
    """
    mask = cv2.resize(mask.astype(np.float32), image.shape[1::-1],
                      interpolation=cv2.INTER_LINEAR)
    lo, hi = float(mask.min()), float(mask.max())
    norm = (mask - lo) / (hi - lo) if hi > lo else np.zeros_like(mask)
    colour = cv2.applyColorMap((norm * 255).astype(np.uint8),
                               cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 1 - alpha, colour, alpha, 0), lo, hi


def add_title(tile: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``tile`` (same size) with ``text`` on a darkened top band.

    Example:
        >>> add_title(np.zeros((40, 60, 3), np.uint8), 'step 1').shape
        (40, 60, 3)
    """
    tile = tile.copy()
    w = tile.shape[1]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = float(np.clip(w / 400, 0.3, 0.5))
    lines: List[str] = []
    for word in text.split():
        trial = f'{lines[-1]} {word}' if lines else word
        if lines and cv2.getTextSize(trial, font, scale, 1)[0][0] <= w - 4:
            lines[-1] = trial
        else:
            lines.append(word)
    line_h = cv2.getTextSize('Ag', font, scale, 1)[0][1] + 4
    band = min(tile.shape[0], line_h * len(lines) + 3)
    tile[:band] = (tile[:band] * 0.35).astype(np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(tile, line, (2, line_h * (i + 1) - 1), font, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def overlay_panel(mask: np.ndarray, image: np.ndarray, title: str) -> Panel:
    """``(title, picture)``: :func:`colour_overlay` drawn ``title [lo, hi]``.

    Example:
        >>> overlay_panel(np.eye(4), np.zeros((8, 8, 3), np.uint8), 'map')[0]
        'map'
    """
    tile, lo, hi = colour_overlay(mask, image)
    return title, add_title(tile, f'{title} [{lo:.3g}, {hi:.3g}]')


def panel_row(image: np.ndarray, panels: Sequence[Panel]) -> np.ndarray:
    """The titled ``image`` and then the ``(title, picture)`` panels in a row.

    Example:
        >>> img = np.zeros((32, 48, 3), np.uint8)
        >>> panel_row(img, [('a', img), ('b', img)]).shape
        (32, 144, 3)
    """
    return np.hstack([add_title(image, 'input')] + [p for _, p in panels])


def stack_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Rows stacked top to bottom, short ones padded white on the right.

    Example:
        >>> a, b = np.zeros((2, 3, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)
        >>> stack_rows([a, b]).shape
        (6, 5, 3)
    """
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)),
                     constant_values=255) for r in rows]
    return np.vstack(padded)
