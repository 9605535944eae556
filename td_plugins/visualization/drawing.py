"""Heat-map panels: colour maps, titles, rows and grids of BGR pictures.

The maps drawn are those of :mod:`td_plugins.visualization.attention`; the
layout is described in docs/visualization.md.
"""
from typing import List, Sequence, Tuple

import cv2
import numpy as np

Panel = Tuple[str, np.ndarray]  # (title, BGR uint8 picture)


def colour_overlay(mask: np.ndarray, image: np.ndarray,
                   alpha: float = 0.55) -> Tuple[np.ndarray, float, float]:
    """Blend a min-max stretched JET heat map of ``mask`` over ``image``.

    Args:
        mask (np.ndarray): A ``(h, w)`` map, resized to the image. A
            constant mask is drawn as all zero.
        image (np.ndarray): A BGR uint8 picture ``(H, W, 3)``.
        alpha (float): Weight of the colours. Defaults to 0.55.

    Returns:
        tuple: The ``(H, W, 3)`` picture and the mask's range ``(lo, hi)``.

    Example:
        >>> img = np.zeros((32, 48, 3), np.uint8)
        >>> tile, lo, hi = colour_overlay(np.arange(6.).reshape(2, 3), img)
        >>> tile.shape, lo, hi
        ((32, 48, 3), 0.0, 5.0)
    """
    mask = cv2.resize(mask.astype(np.float32), image.shape[1::-1],
                      interpolation=cv2.INTER_LINEAR)
    lo, hi = float(mask.min()), float(mask.max())
    norm = (mask - lo) / (hi - lo) if hi > lo else np.zeros_like(mask)
    colour = cv2.applyColorMap((norm * 255).astype(np.uint8),
                               cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 1 - alpha, colour, alpha, 0), lo, hi


def add_title(tile: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``tile`` with ``text`` wrapped on a darkened top band.

    Args:
        tile (np.ndarray): A BGR uint8 picture; its size is kept.
        text (str): The title.

    Returns:
        np.ndarray: The titled picture.

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
    """A titled heat-map panel of ``mask`` over ``image``, range in title.

    Args:
        mask (np.ndarray): A ``(h, w)`` map.
        image (np.ndarray): A BGR uint8 picture ``(H, W, 3)``.
        title (str): The panel's title, followed by ``[lo, hi]``.

    Returns:
        tuple: ``(title, picture)``, the picture ``(H, W, 3)``.

    Example:
        >>> img = np.zeros((32, 48, 3), np.uint8)
        >>> title, tile = overlay_panel(np.eye(4), img, 'map')
        >>> title, tile.shape
        ('map', (32, 48, 3))
    """
    tile, lo, hi = colour_overlay(mask, image)
    return title, add_title(tile, f'{title} [{lo:.3g}, {hi:.3g}]')


def panel_row(image: np.ndarray, panels: Sequence[Panel]) -> np.ndarray:
    """The titled input followed by the panels, side by side.

    Args:
        image (np.ndarray): A BGR uint8 picture ``(H, W, 3)``.
        panels (Sequence[tuple]): ``(title, picture)`` pairs of its size.

    Returns:
        np.ndarray: A ``(H, (1 + len(panels)) * W, 3)`` picture.

    Example:
        >>> img = np.zeros((32, 48, 3), np.uint8)
        >>> panel_row(img, [('a', img), ('b', img)]).shape
        (32, 144, 3)
    """
    return np.hstack([add_title(image, 'input')] + [p for _, p in panels])


def stack_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Rows stacked top to bottom, short ones padded white on the right.

    Args:
        rows (Sequence[np.ndarray]): BGR pictures ``(H_i, W_i, 3)``.

    Returns:
        np.ndarray: A ``(sum H_i, max W_i, 3)`` picture.

    Example:
        >>> a, b = np.zeros((2, 3, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)
        >>> stack_rows([a, b]).shape
        (6, 5, 3)
    """
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)),
                     constant_values=255) for r in rows]
    return np.vstack(padded)
