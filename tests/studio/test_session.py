"""The studio's actions (without a web server): each shows only where the model supports it, makes
exactly what its "copy as command" line makes with the CLI, and turns bad input into one line."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.cli.commands.interpolate import walk_projected
from gan_lightning.cli.studio.session import MAX_PIXELS, MAX_SEED, Studio
from gan_lightning.cli.stylegan_arguments import ws_for_seeds
from gan_lightning.common.errors import UserError
from tests.conftest import ASSETS
from tests.studio.conftest import MODELS, as_png_frames, same_videos, encoded_frames, frames, pixels, png_frames, run_command_line


@pytest.mark.parametrize(
    "model, panels",
    [
        (MODELS["stylegan"], ("generate", "style_mix", "walk", "project")),
        (ASSETS / "main_stylegan_folder", ("generate", "style_mix", "walk", "project")),
        (MODELS["vanilla_gan"], ("generate", "walk")),
        (MODELS["style_transfer"], ("stylize",)),
        (MODELS["arbitrary_style"], ("stylize",)),
    ],
    ids=["stylegan", "stylegan_folder", "vanilla_gan", "style_transfer", "arbitrary_style"],
)
def test_each_model_shows_the_panels_it_supports(model, panels, tmp_path):
    assert Studio(str(model), "cpu", tmp_path).panels == panels


@pytest.fixture(scope="module")
def stylegan(tmp_path_factory) -> Studio:
    return Studio(str(MODELS["stylegan"]), "cpu", tmp_path_factory.mktemp("studio"))


def test_generate_makes_what_its_command_line_makes(stylegan, tmp_path):
    result = stylegan.generate(3, 4, 0.7, "const")
    assert "--seed 3 --num 4 --truncation 0.7 --noise-mode const" in result.command
    run_command_line(result.command, tmp_path)
    assert np.array_equal(pixels(result.files[0]), pixels(tmp_path / "generate.png"))
    assert not np.array_equal(pixels(result.files[0]), pixels(stylegan.generate(3, 4, 0.5, "const").files[0]))


def test_style_mixing_makes_what_its_command_line_makes(stylegan, tmp_path):
    result = stylegan.style_mix("1,2", "3-5", 2, 0.9, "const")
    assert "--rows 1,2 --cols 3-5 --styles 0-1" in result.command
    run_command_line(result.command, tmp_path)
    assert np.array_equal(pixels(result.files[0]), pixels(tmp_path / "style_mix.png"))
    assert not np.array_equal(pixels(result.files[0]), pixels(stylegan.style_mix("1,2", "3-5", 6, 0.9, "const").files[0]))


def test_a_walk_makes_the_frames_of_its_command_line(stylegan, tmp_path):
    result = stylegan.walk("1,4", steps=3, fps=8.0, space="z", loop=True, truncation=0.8)
    run_command_line(result.command, tmp_path)
    ours, theirs = frames(result.files[0]), frames(tmp_path / "walk.mp4")
    assert len(ours) == 6 and torch.equal(ours, theirs)


def test_a_generator_without_w_walks_in_z_as_its_command_line_does(tmp_path):
    studio = Studio(str(MODELS["vanilla_gan"]), "cpu", tmp_path / "studio")
    result = studio.walk("3,5", steps=2, fps=8.0, space="z", loop=True)
    assert "--space z" in result.command and "--truncation" not in result.command
    run_command_line(result.command, tmp_path / "cli")
    ours, theirs = frames(result.files[0]), frames(tmp_path / "cli" / "walk.mp4")
    assert len(ours) == 4 and torch.equal(ours, theirs)
    with pytest.raises(UserError, match="no W space; allowed: z"):
        studio.walk("3,5", steps=2, space="w")
    with pytest.raises(UserError, match="no W space for projected latents"):
        studio.walk("3,proj1", steps=2, space="z")


def test_projection_writes_the_latent_and_reconstruction_of_its_command_line(stylegan, photos, tmp_path):
    seen = []
    result = stylegan.project(photos["photo"], steps=3, on_step=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    run_command_line(result.command, tmp_path)
    assert np.array_equal(pixels(result.files[0]), pixels(tmp_path / "project" / "target_projection.png"))
    ours, theirs = (torch.load(p, weights_only=True)["ws"] for p in (result.files[2], tmp_path / "project" / "target_ws.pt"))
    assert torch.equal(ours, theirs)


def test_vanilla_gan_generates_without_truncation(tmp_path):
    studio = Studio(str(MODELS["vanilla_gan"]), "cpu", tmp_path / "studio")
    result = studio.generate(5, 2)
    assert "--truncation" not in result.command
    run_command_line(result.command, tmp_path / "cli")
    assert np.array_equal(pixels(result.files[0]), pixels(tmp_path / "cli" / "generate.png"))
    with pytest.raises(UserError, match="--truncation applies to StyleGAN"):
        studio.generate(5, 2, truncation=0.5)


@pytest.mark.parametrize("model", ["style_transfer", "arbitrary_style"])
def test_stylize_tiles_a_large_photo_as_its_command_line_does(model, photos, tmp_path):
    studio = Studio(str(MODELS[model]), "cpu", tmp_path / "studio")
    style = photos["style"] if model == "arbitrary_style" else None
    result = studio.stylize(photos["large"], style, alpha=0.6, preserve_color=True, style_size=32, tile_size=32)
    assert "--tile-size 32" in result.command and "--preserve-color" in result.command
    run_command_line(result.command, tmp_path / "cli")
    ours = pixels(result.files[0])
    assert ours.shape == (72, 100, 3)  # full size
    assert np.array_equal(ours, pixels(tmp_path / "cli" / "stylize" / "large.png"))
    whole = pixels(studio.stylize(photos["large"], style, alpha=0.6, preserve_color=True, style_size=32).files[0])
    assert not np.array_equal(ours, whole)  # 32 px tiles are blended, not one pass


def one_line_error(action, *args, **kwargs) -> str:
    with pytest.raises(UserError) as error:
        action(*args, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_bad_input_gives_one_line_naming_the_value(stylegan, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    fake = tmp_path / "fake.png"
    fake.write_text("not an image either")
    huge = tmp_path / "huge.png"
    Image.new("L", (4097, 4096)).save(huge)
    assert "'notes.txt' is not an image" in one_line_error(stylegan.project, text, 2)
    assert "'fake.png' is not a readable image" in one_line_error(stylegan.project, fake, 2)
    assert f"4097x4096 pixels; allowed: up to {MAX_PIXELS}" in one_line_error(stylegan.project, huge, 2)
    assert "upload an image first" in one_line_error(stylegan.project, None, 2)
    assert f"seed {MAX_SEED + 1} is out of range" in one_line_error(stylegan.generate, MAX_SEED + 1)
    assert "seed -1 is out of range" in one_line_error(stylegan.generate, -1)
    assert f"seed {MAX_SEED + 1} is out of range" in one_line_error(stylegan.style_mix, "1", f"2,{MAX_SEED + 1}", 2)
    assert "crossover layer 9 is out of range; allowed: 1 to 8" in one_line_error(stylegan.style_mix, "1", "2", 9)
    assert "number of images 65 is out of range" in one_line_error(stylegan.generate, 0, 65)
    assert "has no stylize" in one_line_error(stylegan.stylize, text)
    vanilla = Studio(str(MODELS["vanilla_gan"]), "cpu", tmp_path / "vanilla")
    assert "VanillaGAN model has no style mix; it supports: generate" in one_line_error(vanilla.style_mix, "1", "2", 1)


def test_every_output_is_inside_the_studio_folder(tmp_path, photos):
    studio = Studio(str(MODELS["stylegan"]), "cpu", tmp_path / "studio")
    results = [studio.generate(0), studio.style_mix("1", "2", 1), studio.walk("1,2", 2), studio.project(photos["photo"], 1)]
    for result in results:
        for file in result.files:
            assert file.is_file() and file.resolve().is_relative_to((tmp_path / "studio").resolve())


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--ckpt", str(MODELS["stylegan"]), "--port", "70000"], "--port 70000 is invalid; allowed: 1 to 65535"),
        (["--ckpt", "missing.ckpt"], "missing.ckpt"),
        (["--ckpt", str(MODELS["stylegan"]), "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_the_studio_command_stops_on_bad_options_with_one_line(arguments, message, capsys):
    from gan_lightning.cli.main import main

    with pytest.raises(SystemExit) as exit_status:
        main(["studio", *arguments])
    error = capsys.readouterr().err
    assert exit_status.value.code == 2 and message in error and error.count("\n") == 1


def test_projection_then_mixing_with_a_style_photo_makes_what_its_command_line_makes(stylegan, photos, tmp_path):
    seen = []
    result = stylegan.project(photos["photo"], steps=2, style=photos["style"], coarse_layers=3, on_step=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert "--coarse-layers 3" in result.command
    run_command_line(result.command, tmp_path)
    assert np.array_equal(pixels(result.files[0]), pixels(tmp_path / "project" / "stylized.png"))
    assert not np.array_equal(pixels(result.files[0]), pixels(result.files[1]))  # the mix is not the photo's reconstruction
    assert "coarse layers 8 is out of range; allowed: 1 to 7" in one_line_error(stylegan.project, photos["photo"], 2, style=photos["style"], coarse_layers=8)


def test_a_stylegan3_checkpoint_gets_the_stylegan_panels_and_makes_what_its_command_lines_make(tmp_path):
    converted = tmp_path / "t.ckpt"
    run_command_line(f"python -m gan_lightning convert --from nvlabs {ASSETS / 'nvlabs_stylegan3_t32.pkl'} --out {converted}", tmp_path)
    studio = Studio(str(converted), "cpu", tmp_path / "studio")
    assert studio.panels == ("generate", "style_mix", "walk", "project")
    generated = studio.generate(2, 2, 0.7, "const")
    mixed = studio.style_mix("1", "2,3", 2, 1.0, "const")
    for result, name in ((generated, "generate.png"), (mixed, "style_mix.png")):
        run_command_line(result.command, tmp_path / "cli")
        assert np.array_equal(pixels(result.files[0]), pixels(tmp_path / "cli" / name))


def latents_of(command: str) -> list[Path]:
    words = shlex.split(command)
    return [Path(p) for p in words[words.index("--latents") + 1].split(",")]


def pixels_of_command(line: str, cwd: Path) -> np.ndarray:
    run_command_line(line, cwd)
    return png_frames(cwd / "frames")


def test_a_walk_through_projected_and_uploaded_latents_makes_what_interpolate_latents_makes(photos, tmp_path, monkeypatch):
    encoded = encoded_frames(monkeypatch)
    studio = Studio(str(MODELS["stylegan"]), "cpu", tmp_path / "studio")
    projected = studio.project(photos["photo"], steps=2)
    assert projected.latents == ("proj1",)
    run_command_line(projected.command, tmp_path / "cli_project")  # a `project` output, uploaded below
    uploaded = tmp_path / "cli_project" / "project" / "target_ws.pt"
    result = studio.walk("proj1,0,file1", steps=2, fps=8.0, truncation=0.8, latents=[uploaded])
    files = latents_of(result.command)
    assert "--seeds" not in result.command and "--truncation" not in result.command
    assert all(f.resolve().is_relative_to((tmp_path / "studio").resolve()) for f in files)  # the command needs them on disk
    assert files[0] == projected.files[2]
    seed_ws = ws_for_seeds(studio.generator, [0], 0.8)[0]
    assert torch.equal(torch.load(files[1], weights_only=True)["ws"], seed_ws.detach())
    assert torch.equal(torch.load(files[2], weights_only=True)["ws"], torch.load(uploaded, weights_only=True)["ws"])
    ws = walk_projected(studio.generator, files, 2, False)  # the frames' latents, as `interpolate --latents` computes them
    assert ws.shape == (5, 8, 8) and torch.equal(ws[0], torch.load(files[0], weights_only=True)["ws"]) and torch.equal(ws[2], seed_ws.detach())
    assert np.array_equal(encoded[-1], pixels_of_command(as_png_frames(result.command), tmp_path / "cli_frames"))
    run_command_line(result.command, tmp_path / "cli_walk")
    ours, theirs = frames(result.files[0]), frames(tmp_path / "cli_walk" / "walk.mp4")
    assert len(ours) == 5 and same_videos(ours, theirs)


def test_projection_with_a_style_photo_names_both_latents_for_walks(stylegan, photos):
    before = len(stylegan.projections)
    result = stylegan.project(photos["photo"], steps=1, style=photos["style"], coarse_layers=3)
    assert result.latents == (f"proj{before + 1}", f"proj{before + 2}")
    assert [stylegan.projections[name].name for name in result.latents] == ["content_ws.pt", "style_ws.pt"]


def test_a_bad_walk_through_latents_gives_one_line_and_writes_nothing_outside_the_studio_folder(photos, tmp_path):
    studio = Studio(str(MODELS["stylegan"]), "cpu", tmp_path / "studio")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    torch.save({"ws": torch.zeros(14, 512), "space": "w+"}, uploads / "big_ws.pt")
    torch.save({"ws": [0.0, 1.0]}, uploads / "list_ws.pt")
    (uploads / "notes.txt").write_text("not a latent")
    assert "walk point 'proj1' is unknown; this session has: none yet" in one_line_error(studio.walk, "0,proj1")
    assert "walk point 'file2' is unknown; this session has: file1" in one_line_error(studio.walk, "0,file2", latents=[uploads / "big_ws.pt"])
    assert "walk point 'photo' is neither a seed" in one_line_error(studio.walk, "0,photo")
    assert "latent file1 'notes.txt' is not a .pt file" in one_line_error(studio.walk, "0,file1", latents=[uploads / "notes.txt"])
    assert "latent file1 'big_ws.pt' holds ws of shape (14, 512); this generator needs (8, 8)" in one_line_error(
        studio.walk, "0,file1", latents=[uploads / "big_ws.pt"]
    )
    assert "latent file1 'list_ws.pt' is not a `project` output" in one_line_error(studio.walk, "0,file1", latents=[uploads / "list_ws.pt"])
    assert "uploaded latents file1 are not among the points" in one_line_error(studio.walk, "0,1", latents=[uploads / "big_ws.pt"])
    studio.project(photos["photo"], steps=1)
    assert "space z walks between seeds only" in one_line_error(studio.walk, "0,proj1", space="z")
    assert sorted(p.name for p in uploads.iterdir()) == ["big_ws.pt", "list_ws.pt", "notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studio", "uploads"]
    assert not list((tmp_path / "studio").rglob("file*_ws.pt"))  # a refused upload is not copied


def test_a_projected_photo_mixed_with_seeds_makes_what_style_mix_makes_with_its_latent(photos, tmp_path):
    studio = Studio(str(MODELS["stylegan"]), "cpu", tmp_path / "studio")
    assert "'proj1' is not a projection of this session; it has: none yet" in one_line_error(studio.style_mix, "proj1", "2", 2)
    projected = studio.project(photos["photo"], steps=2)
    result = studio.style_mix("proj1,1", "2-3", 4, 0.8, "const")
    assert f"--rows {projected.files[2]},1 --cols 2-3" in result.command
    run_command_line(result.command, tmp_path / "cli")
    mixed = pixels(result.files[0])
    assert np.array_equal(mixed, pixels(tmp_path / "cli" / "style_mix.png"))
    tile = mixed.shape[0] // 3  # the columns' row, then one row per row source
    seeds_only = pixels(studio.style_mix("0,1", "2-3", 4, 0.8, "const").files[0])
    assert not np.array_equal(mixed[tile : 2 * tile], seeds_only[tile : 2 * tile])  # the photo's row
    assert np.array_equal(mixed[2 * tile :], seeds_only[2 * tile :])  # seed 1's row
