"""Matte skip: reuse the last person matte, or the last segmentation mask, while the camera
frame has barely changed.

Segmenting and refining the matte are most of a live frame's cost. When a frame differs from
the frame the matte was last computed on by no more than camera noise, the matte is carried
over instead, as obs-backgroundremoval skips its model when consecutive frames are similar
(PSNR above a threshold). When it differs a little more (a person sitting and talking), the
segmentation mask of the previous frame is reused and only the matte is refined again, guided
by the new frame, so that its edges follow small movements; the segmentation model then runs
at most every other frame. The check is cheap (about 0.15 ms at 960x540): a quarter-size
thumbnail, its PSNR against the reference thumbnails, and a guard against local motion (the
largest 16x9-tile mean difference), which a whole-frame PSNR alone would average away.
"""

from __future__ import annotations

import enum
import math

import cv2
import numpy as np

THUMB_TILES = (16, 9)  # tiles across, down
TILE_PX = 15  # thumbnail pixels per tile side: the thumbnail is 240x135


class Gate(enum.Enum):
    """What a frame needs: ``CARRY`` the last matte over, ``REFINE`` the last segmentation
    mask again with this frame as guide, or ``SEGMENT`` it afresh."""

    CARRY = "carry"
    REFINE = "refine"
    SEGMENT = "segment"


class MatteGate:
    """Says, per frame, how much of the matte must be computed.

    Args:
        psnr_db: carry the matte over only when the frame's thumbnail is within this PSNR
            (dB) of the reference (the frame the matte was computed on); 0 turns skipping off.
        tile_levels: ... and no 16x9 tile's mean absolute difference exceeds this many
            levels (a hand moving in one corner).
        max_skip: at most this many frames in a row carry the matte over.
        reuse_psnr_db / reuse_tile_levels: the same two limits against the frame the last
            segmentation mask was computed on, for reusing that mask (``REFINE``); 0 = never.
        reuse_max: at most this many frames in a row reuse a mask.

    ``decide(image)`` takes the ``(H, W, 3)`` uint8 BGR frame (any size: a reduced copy of
    the frame works as well) and returns a :class:`Gate`; the caller does what it says (this
    frame becomes the matte's reference unless ``CARRY``, and the mask's reference on
    ``SEGMENT``). ``carry_over(image)`` is ``decide(image) is Gate.CARRY``. ``reset()``
    forces the next frame to be segmented. ``skipped`` counts carried-over frames,
    ``reused`` frames that reused a mask.
    """

    def __init__(self, psnr_db: float = 35.0, tile_levels: float = 16.0, max_skip: int = 1,
                 reuse_psnr_db: float = 0.0, reuse_tile_levels: float = 32.0, reuse_max: int = 1):
        self.psnr_db = psnr_db
        self.tile_levels = tile_levels
        self.max_skip = max_skip
        self.reuse_psnr_db = reuse_psnr_db
        self.reuse_tile_levels = reuse_tile_levels
        self.reuse_max = reuse_max
        self._size = (THUMB_TILES[0] * TILE_PX, THUMB_TILES[1] * TILE_PX)
        self._ref: np.ndarray | None = None  # thumbnail of the matte's frame
        self._mask_ref: np.ndarray | None = None  # thumbnail of the mask's frame
        self._thumb = np.empty((self._size[1], self._size[0], 3), np.uint8)
        self._mask_buf = np.empty_like(self._thumb)
        self._diff = np.empty_like(self._thumb)
        self._tiles = np.empty((THUMB_TILES[1], THUMB_TILES[0], 3), np.uint8)
        self._run = 0
        self._reuse_run = 0
        self.skipped = 0
        self.reused = 0
        self.last_psnr_db = math.inf

    def reset(self) -> None:
        self._ref = self._mask_ref = None

    def _close(self, ref: np.ndarray | None, psnr_db: float, tile_levels: float) -> bool:
        """Whether the current thumbnail is within ``psnr_db`` and ``tile_levels`` of ``ref``."""
        if psnr_db <= 0 or ref is None:
            return False
        mse = cv2.norm(self._thumb, ref, cv2.NORM_L2SQR) / self._thumb.size
        self.last_psnr_db = 10.0 * math.log10(255.0**2 / mse) if mse > 0 else math.inf
        if self.last_psnr_db < psnr_db:
            return False
        cv2.absdiff(self._thumb, ref, dst=self._diff)
        cv2.resize(self._diff, THUMB_TILES, dst=self._tiles, interpolation=cv2.INTER_AREA)
        return int(self._tiles.max()) <= tile_levels

    def decide(self, image: np.ndarray) -> Gate:
        # INTER_LINEAR at a quarter averages 2x2 of each 4x4 block: cheap and less noisy than
        # nearest; the tile means below average the rest.
        cv2.resize(image, self._size, dst=self._thumb, interpolation=cv2.INTER_LINEAR)
        if self._run < self.max_skip and self._close(self._ref, self.psnr_db, self.tile_levels):
            self._run += 1
            self.skipped += 1
            return Gate.CARRY
        self._run = 0
        if self._reuse_run < self.reuse_max and self._close(self._mask_ref, self.reuse_psnr_db, self.reuse_tile_levels):
            self._reuse_run += 1
            self.reused += 1
            decision = Gate.REFINE
        else:
            self._reuse_run = 0
            decision = Gate.SEGMENT
        spare = self._ref if self._ref is not None else np.empty_like(self._thumb)
        self._ref, self._thumb = self._thumb, spare
        if decision is Gate.SEGMENT:
            np.copyto(self._mask_buf, self._ref)
            self._mask_ref = self._mask_buf
        return decision

    def carry_over(self, image: np.ndarray) -> bool:
        """``decide(image) is Gate.CARRY``: True reuses the matte; on False the caller computes
        a new one."""
        return self.decide(image) is Gate.CARRY
