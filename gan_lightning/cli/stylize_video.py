"""`stylize` for a video file: frame by frame through the same per-image path, written as an MP4
(H.264) with the input's frame rate and size. Audio is not copied (the command says so)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from torch import Tensor
from tqdm import tqdm

from gan_lightning.common.errors import UserError
from gan_lightning.common.outputs import written_file
from gan_lightning.common.video import VideoWriter, read_frames, video_info


def stylize_video(path: Path, out: Path, channels: int, stylize: Callable[[Tensor], Tensor]) -> int:
    """Writes ``out`` (.mp4) from ``path``, each frame (1, C, H, W) through ``stylize``; returns the frame count."""
    info = video_info(path)
    if info.has_audio:
        print(f"note: {path.name} has an audio track; it is not copied to {out.name}", file=sys.stderr)
    with written_file(out) as temporary:
        with VideoWriter(temporary, info.fps) as video:
            for frame in tqdm(read_frames(path, channels), total=info.frames or None, desc=f"stylize {path.name}", unit="frame"):
                video.write(stylize(frame[None])[0])
        if video.frames == 0:  # raised inside: no empty video is left at ``out``
            raise UserError(f"{str(path)!r} has a video stream but no frame could be decoded")
    return video.frames
