"""Video: MP4 latent walks from `interpolate` (seeds, duration, projected images) and `stylize` of a
video file, read back with the right frame count, size and frame rate."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest
import torch

from gan_lightning.common.video import read_frames, video_info, write_video
from tests.conftest import ASSETS, run_cli

STYLEGAN = ASSETS / "v0_stylegan.ckpt"  # 32 px, num_ws 8, w_dim 8
STYLE_TRANSFER = ASSETS / "v0_style_transfer.ckpt"


def test_interpolate_writes_an_mp4_looping_walk_of_the_asked_duration(tmp_path):
    out = tmp_path / "walk.mp4"
    run_cli("interpolate", "--ckpt", STYLEGAN, "--seeds", "1,2", "--loop", "--space", "z", "--duration", "1", "--fps", "12", "--out", out)
    info = video_info(out)
    assert (info.width, info.height, info.fps) == (32, 32, Fraction(12))
    assert info.frames == 12 and len(list(read_frames(out))) == 12  # 2 segments x 6 frames, back to the start


def test_interpolate_walks_between_projected_images(tmp_path):
    # What `project` writes: {"ws": (num_ws, w_dim), ...}
    for name, value in (("a", -0.5), ("b", 0.5)):
        torch.save({"ws": torch.full((8, 8), value), "space": "w+", "source": f"{name}.png"}, tmp_path / f"{name}_ws.pt")
    out = tmp_path / "walk.mp4"
    run_cli("interpolate", "--ckpt", STYLEGAN, "--latents", f"{tmp_path / 'a_ws.pt'},{tmp_path / 'b_ws.pt'}", "--steps", "4", "--out", out)
    assert video_info(out).frames == 5  # 4 steps from a to b, then b itself


def test_interpolate_refuses_latents_of_another_generator(tmp_path, capsys):
    torch.save({"ws": torch.zeros(14, 512)}, tmp_path / "big_ws.pt")
    with pytest.raises(SystemExit):
        run_cli("interpolate", "--ckpt", STYLEGAN, "--latents", f"{tmp_path / 'big_ws.pt'},{tmp_path / 'big_ws.pt'}", "--out", tmp_path / "w.mp4")
    assert "holds ws of shape (14, 512); this generator needs (8, 8)" in capsys.readouterr().err


def test_stylize_a_ten_frame_video_keeps_frame_count_size_and_frame_rate(tmp_path):
    clip = write_video(torch.rand(10, 3, 36, 52) * 2 - 1, tmp_path / "clip.mov", fps=15)
    run_cli("stylize", "--ckpt", STYLE_TRANSFER, "--input", clip, "--out", tmp_path / "out")
    info = video_info(tmp_path / "out" / "clip.mp4")
    assert (info.width, info.height, info.fps, info.frames) == (52, 36, Fraction(15), 10)
    frames = list(read_frames(tmp_path / "out" / "clip.mp4"))
    assert len(frames) == 10 and frames[0].shape == (3, 36, 52)


def test_stylize_a_video_with_sound_says_the_audio_is_not_copied(tmp_path, capsys):
    import av
    import numpy as np

    clip = tmp_path / "talk.mp4"
    with av.open(str(clip), "w") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        audio = container.add_stream("aac", rate=8000)
        for _ in range(3):
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        silence.sample_rate = 8000
        container.mux(audio.encode(silence))
        for stream in (video, audio):
            container.mux(stream.encode())
    run_cli("stylize", "--ckpt", STYLE_TRANSFER, "--input", clip, "--out", tmp_path / "out")
    assert "talk.mp4 has an audio track; it is not copied" in capsys.readouterr().err
    info = video_info(tmp_path / "out" / "talk.mp4")
    assert info.frames == 3 and not info.has_audio


def test_stylize_an_unreadable_video_stops_with_one_line(tmp_path, capsys):
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(SystemExit):
        run_cli("stylize", "--ckpt", STYLE_TRANSFER, "--input", tmp_path / "broken.mp4", "--out", tmp_path / "out")
    err = capsys.readouterr().err
    assert "cannot read video" in err and "broken.mp4" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_same_frames_always_encode_to_the_same_bytes(tmp_path):
    # With x264's default settings, a walk of the tiny StyleGAN encoded differently in about a quarter of
    # repeats in a process that loaded torch before PyAV; a fresh process keeps that import order.
    script = f"""
import hashlib
from gan_lightning.cli.commands.interpolate import walk_latents
from gan_lightning.cli.stylegan_arguments import synthesize
from gan_lightning.cli.studio.session import Studio
from gan_lightning.common.video import write_video
generator = Studio(r"{ASSETS / 'main_stylegan.ckpt'}", "cpu", r"{tmp_path / 'studio'}").generator
frames = synthesize(generator, walk_latents(generator, [1, 2, 3], 4, "w", False, 1.0), "const")
print(len({{hashlib.md5(write_video(frames, rf"{tmp_path}" + f"/{{i}}.mp4", 10.0).read_bytes()).digest() for i in range(16)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"
