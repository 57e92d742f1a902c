"""Video files as the package sees them: frames are (C, H, W) tensors in [-1, 1], like images.

Reading and writing go through PyAV (FFmpeg's libraries in a PyPI wheel, no system ffmpeg needed).
Written videos are MP4 with H.264 in yuv420p (what browsers and phones play); sides are made even,
which yuv420p needs, by repeating the last row or column.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from gan_lightning.common.checks import check_positive
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import from_uint8, to_uint8

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
CODEC = "libx264"
CRF = "18"  # x264 quality: 18 is visually lossless for most content, files stay small
# x264's macroblock tree made different files from the same frames in one process (measured: a quarter of
# repeated encodes of one walk differed, up to 0.2 in a pixel, whatever its thread count); without it the
# same frames give the same bytes, so a video can be compared with the command that reproduces it.
X264_PARAMS = "mbtree=0"


@dataclass(frozen=True)
class VideoInfo:
    fps: Fraction
    width: int
    height: int
    frames: int  # from the container; 0 when it does not say
    has_audio: bool


def _open(path: Path):
    import av

    if not path.is_file():
        raise UserError(f"video {str(path)!r} does not exist")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise UserError(f"cannot read video {str(path)!r}: {error}") from None
    if not container.streams.video:
        container.close()
        raise UserError(f"{str(path)!r} has no video stream")
    return container


def video_info(path: str | os.PathLike) -> VideoInfo:
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        fps = stream.average_rate or stream.guessed_rate or Fraction(24)
        return VideoInfo(Fraction(fps), stream.width, stream.height, stream.frames, bool(container.streams.audio))


def read_frames(path: str | os.PathLike, channels: int = 3) -> Iterator[Tensor]:
    """Every frame of the first video stream, decoded one at a time: (C, H, W) in [-1, 1]."""
    import av

    with _open(Path(path)) as container:
        frames = container.decode(video=0)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                raise UserError(f"cannot decode video {str(path)!r}: {error}") from None
            array = frame.to_ndarray(format="rgb24" if channels == 3 else "gray")
            if array.ndim == 2:
                array = array[:, :, None]
            yield from_uint8(torch.from_numpy(array).permute(2, 0, 1))


class VideoWriter:
    """Writes frames to an MP4 file one at a time: ``with VideoWriter(path, fps) as video: video.write(frame)``."""

    def __init__(self, path: str | os.PathLike, fps: float | Fraction) -> None:
        check_positive("frame rate", fps)
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frames = 0
        self._container = None
        self._stream = None

    def __enter__(self) -> "VideoWriter":
        return self

    def write(self, frame: Tensor) -> None:
        """One (C, H, W) frame in [-1, 1]; every frame must have the first one's size."""
        import av

        array = to_uint8(frame).permute(1, 2, 0).cpu().numpy()
        if array.shape[2] == 1:
            array = np.repeat(array, 3, axis=2)
        height, width = array.shape[:2]
        array = np.pad(array, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        if self._container is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), "w")
            self._stream = self._container.add_stream(CODEC, rate=self.fps, options={"crf": CRF, "x264-params": X264_PARAMS})
            self._stream.width, self._stream.height = array.shape[1], array.shape[0]
            self._stream.pix_fmt = "yuv420p"
        elif (array.shape[1], array.shape[0]) != (self._stream.width, self._stream.height):
            raise ValueError(f"frame size {width}x{height} differs from the video's {self._stream.width}x{self._stream.height}")
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():  # flush the encoder's delayed frames
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(frames: Tensor, path: str | os.PathLike, fps: float) -> Path:
    """(T, C, H, W) in [-1, 1] -> an MP4 file at ``fps`` frames per second."""
    with VideoWriter(path, fps) as video:
        for frame in frames:
            video.write(frame)
    return Path(path)
