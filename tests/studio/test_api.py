"""The studio's named API endpoints, called with gradio_client as a script would: each makes what
the CLI makes for the same settings (its "copy as command" line, run), bad input comes back as one
line, and the server keeps serving."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.studio.conftest import as_png_frames, same_videos, encoded_frames, frames, png_frames, pixels, run_command_line

gradio_client = pytest.importorskip("gradio_client")


def client(servers, name: str):
    return gradio_client.Client(servers(name).url, verbose=False, download_files=False)


def test_the_studio_serves_this_machine_only_by_default(servers):
    assert servers("stylegan").url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    "name, endpoints",
    [("stylegan", ["/generate", "/style_mix", "/walk", "/project"]), ("vanilla_gan", ["/generate", "/walk"]), ("arbitrary_style", ["/stylize"])],
)
def test_each_model_has_the_endpoints_of_its_panels(servers, name, endpoints):
    assert sorted(client(servers, name).view_api(print_info=False, return_format="dict")["named_endpoints"]) == sorted(endpoints)


def test_stylegan_endpoints_match_the_cli(servers, photos, tmp_path):
    api = gradio_client.Client(servers("stylegan").url, verbose=False, download_files=str(tmp_path / "downloads"))
    image, command = api.predict(3, 4, 0.7, "const", 0, api_name="/generate")
    run_command_line(command, tmp_path / "generate")
    assert np.array_equal(pixels(image), pixels(tmp_path / "generate" / "generate.png"))

    image, command = api.predict("1,2", "3", 2, 0.8, "const", 0, api_name="/style_mix")
    run_command_line(command, tmp_path / "mix")
    assert np.array_equal(pixels(image), pixels(tmp_path / "mix" / "style_mix.png"))

    video, command = api.predict("1,2", 3, 10, "w", False, 1.0, "const", 0, api_name="/walk")
    run_command_line(command, tmp_path / "walk")
    served, cli = frames(video["video"] if isinstance(video, dict) else video), frames(tmp_path / "walk" / "walk.mp4")
    assert served.shape == cli.shape and torch.equal(served, cli)

    image, latent, command = api.predict(gradio_client.handle_file(str(photos["photo"])), 2, "w+", 0, None, 4, api_name="/project")
    run_command_line(command, tmp_path / "cli")  # writes cli/project/
    assert np.array_equal(pixels(image), pixels(tmp_path / "cli" / "project" / "target_projection.png"))
    assert torch.equal(torch.load(latent, weights_only=True)["ws"], torch.load(tmp_path / "cli" / "project" / "target_ws.pt", weights_only=True)["ws"])


def test_walk_endpoint_walks_through_a_projection_and_an_uploaded_latent_as_interpolate_latents_does(servers, photos, tmp_path, monkeypatch):
    encoded = encoded_frames(monkeypatch)  # the server runs in this process
    running = servers("stylegan")
    api = gradio_client.Client(running.url, verbose=False, download_files=str(tmp_path / "downloads"))
    _, latent, _ = api.predict(gradio_client.handle_file(str(photos["photo"])), 2, "w+", 0, None, 4, api_name="/project")
    name = list(running.studio.projections)[-1]  # what the page shows under the projection
    video, command = api.predict(f"{name},0,file1", 2, 10, "w", False, 0.9, "const", 0, [gradio_client.handle_file(latent)], api_name="/walk")
    words = shlex.split(command)
    files = [Path(p) for p in words[words.index("--latents") + 1].split(",")]
    assert [f.name for f in files] == ["target_ws.pt", "seed0_ws.pt", "file1_ws.pt"]
    assert torch.equal(torch.load(files[2], weights_only=True)["ws"], torch.load(latent, weights_only=True)["ws"])
    run_command_line(as_png_frames(command), tmp_path / "png")
    assert np.array_equal(encoded[-1], png_frames(tmp_path / "png" / "frames"))
    run_command_line(command, tmp_path / "walk")
    served, cli = frames(video["video"] if isinstance(video, dict) else video), frames(tmp_path / "walk" / "walk.mp4")
    assert len(cli) == 5 and same_videos(served, cli)
    text = tmp_path / "notes.txt"
    text.write_text("not a latent")
    with pytest.raises(gradio_client.exceptions.AppError, match=r"^latent file1 'notes.txt' is not a .pt file; allowed: "):
        api.predict("0,file1", 2, 10, "w", False, 1.0, "const", 0, [gradio_client.handle_file(str(text))], api_name="/walk")


@pytest.mark.parametrize("name", ["style_transfer", "arbitrary_style"])
def test_stylize_endpoint_matches_the_cli(servers, photos, name, tmp_path):
    api = gradio_client.Client(servers(name).url, verbose=False, download_files=str(tmp_path / "downloads"))
    inputs = [gradio_client.handle_file(str(photos["large"]))]
    if name == "arbitrary_style":
        inputs.append(gradio_client.handle_file(str(photos["style"])))
    image, download, command = api.predict(*inputs, 0.5, True, 32, 32, api_name="/stylize")
    run_command_line(command, tmp_path / "cli")
    assert np.array_equal(pixels(image), pixels(tmp_path / "cli" / "stylize" / "large.png"))
    assert pixels(download).shape == (72, 100, 3)


def test_bad_calls_come_back_as_one_line_and_the_server_keeps_serving(servers, tmp_path):
    api = client(servers, "stylegan")
    with pytest.raises(gradio_client.exceptions.AppError, match=r"^seed 4294967296 is out of range; allowed: 0 to 4294967295 \(for 1 images\)$"):
        api.predict(2**32, 1, 1.0, "const", 0, api_name="/generate")
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(gradio_client.exceptions.AppError, match=r"^photo 'notes.txt' is not an image; allowed: "):
        api.predict(gradio_client.handle_file(str(text)), 2, "w+", 0, None, 4, api_name="/project")
    large = tmp_path / "large.png"
    large.write_bytes(bytes(21 * 1024 * 1024))  # over the upload limit: refused before the action runs
    with pytest.raises(Exception, match="(?i)size|large|limit"):
        api.predict(gradio_client.handle_file(str(large)), 2, "w+", 0, None, 4, api_name="/project")
    image, _ = api.predict(0, 1, 1.0, "const", 0, api_name="/generate")
    assert image
