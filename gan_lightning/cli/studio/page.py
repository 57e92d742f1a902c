"""The studio's page (Gradio Blocks): one tab per panel the model supports, each with a "copy as
command" line under its result; every action's button is also a named API endpoint (generate,
style_mix, walk, project, stylize) that ``gradio_client`` calls with the same inputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from gan_lightning.cli.studio.session import MAX_IMAGES, MAX_PROJECT_STEPS, MAX_UPLOAD_BYTES, Result, Studio
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import IMAGE_EXTENSIONS
from gan_lightning.common.tiling import DEFAULT_TILE_SIZE, MIN_TILE_SIZE
from gan_lightning.core.nets.layers import NOISE_MODES

# System fonts: the page loads nothing from outside the studio's server (no font CDN), so it works offline.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
TITLES: dict[str, str] = {"generate": "Generate", "style_mix": "Style mixing", "walk": "Walk", "project": "Project", "stylize": "Stylize"}


def one_line(action: Callable[..., Result], outputs: Callable[[Result], tuple]) -> Callable[..., tuple]:
    """``action`` for Gradio: bad input ends as one line in the page (and in the API caller's error),
    never a traceback; the server keeps serving."""

    def run(*inputs: Any) -> tuple:
        try:
            return outputs(action(*inputs))
        except UserError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except Exception as error:  # noqa: BLE001 (a fault of ours or of the machine, such as running out of memory: its first line, the traceback in the server's log)
            raise gr.Error(f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}") from error

    run.__name__ = action.__name__
    return run


def command_box(elem_id: str) -> gr.Textbox:
    return gr.Textbox(label="copy as command", interactive=False, buttons=["copy"], elem_id=elem_id)


def whole(value: float | None) -> int | None:
    """Gradio numbers arrive as floats; the actions take whole numbers."""
    return None if value is None else int(value)


def sampling_inputs(studio: Studio, prefix: str) -> list[gr.components.Component]:
    """Truncation psi, noise mode and class: shown where the generator takes them."""
    truncation = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="truncation psi", visible=studio.sampling_options, elem_id=f"{prefix}_truncation")
    noise_mode = gr.Radio(list(NOISE_MODES), value="const", label="noise mode", visible=studio.sampling_options)
    class_index = gr.Number(0, precision=0, minimum=0, maximum=max(studio.classes - 1, 0), label="class", visible=studio.classes > 0)
    return [truncation, noise_mode, class_index]


def upload(label: str, elem_id: str) -> gr.File:
    """An image upload. Any file is taken, so that the studio's check names a wrong one in its own line."""
    return gr.File(label=f"{label} ({', '.join(IMAGE_EXTENSIONS)})", type="filepath", elem_id=elem_id)


def build_page(studio: Studio) -> gr.Blocks:
    with gr.Blocks(title=f"gan_lightning studio: {Path(studio.ckpt).name}", analytics_enabled=False) as page:
        gr.Markdown(f"### {studio.algorithm} · `{studio.ckpt}` · {studio.device}")
        for panel in studio.panels:
            with gr.Tab(TITLES[panel], id=panel):
                PANEL_BUILDERS[panel](studio)
    page.max_file_size = MAX_UPLOAD_BYTES
    return page


def generate_panel(studio: Studio) -> None:
    with gr.Row():
        with gr.Column():
            seed = gr.Number(0, precision=0, label="seed (first of the grid)", elem_id="generate_seed")
            num = gr.Number(1, precision=0, label=f"images (up to {MAX_IMAGES})", elem_id="generate_num")
            sampling = sampling_inputs(studio, "generate")
            button = gr.Button("Generate", variant="primary", elem_id="generate_button")
        with gr.Column():
            image = gr.Image(label="result", type="filepath", format="png", elem_id="generate_image")
            command = command_box("generate_command")

    def generate(seed: float, num: float, truncation: float, noise_mode: str, class_index: float | None) -> tuple:
        return one_line(studio.generate, lambda r: (str(r.files[0]), r.command))(whole(seed), whole(num), truncation, noise_mode, whole(class_index))

    inputs = [seed, num, *sampling]
    button.click(generate, inputs, [image, command], api_name="generate")
    sampling[0].release(generate, inputs, [image, command], api_visibility="private")  # moving the slider redraws


def style_mix_panel(studio: Studio) -> None:
    num_ws = int(studio.generator.num_ws)
    with gr.Row():
        with gr.Column():
            rows = gr.Textbox("1,2,3", label="row seeds (base images); proj1 ... for the Project panel's latents", elem_id="style_mix_rows")
            cols = gr.Textbox("4,5,6", label="column seeds (style donors); proj1 ... as well", elem_id="style_mix_cols")
            crossover = gr.Slider(1, num_ws, value=max(1, num_ws // 2), step=1, label="crossover layer: layers below it come from the column seed", elem_id="style_mix_crossover")
            sampling = sampling_inputs(studio, "style_mix")
            button = gr.Button("Mix styles", variant="primary", elem_id="style_mix_button")
        with gr.Column():
            image = gr.Image(label="result", type="filepath", format="png", elem_id="style_mix_image")
            command = command_box("style_mix_command")

    def style_mix(rows: str, cols: str, crossover: float, truncation: float, noise_mode: str, class_index: float | None) -> tuple:
        return one_line(studio.style_mix, lambda r: (str(r.files[0]), r.command))(rows, cols, whole(crossover), truncation, noise_mode, whole(class_index))

    inputs = [rows, cols, crossover, *sampling]
    button.click(style_mix, inputs, [image, command], api_name="style_mix")
    crossover.release(style_mix, inputs, [image, command], api_visibility="private")


def walk_panel(studio: Studio) -> None:
    w_space = "project" in studio.panels  # generators without W walk between seeds in Z only
    points = "seeds (1,5 or 1-3), proj1, proj2 ... (the Project panel's latents), file1, file2 ... (the latents uploaded below)"
    with gr.Row():
        with gr.Column():
            seeds = gr.Textbox("1,2,3", label=f"points, in order: {points if w_space else 'seeds (1,5 or 1-3)'}", elem_id="walk_seeds")
            steps = gr.Number(24, precision=0, minimum=1, label="frames from one point to the next", elem_id="walk_steps")
            fps = gr.Number(24, minimum=1, maximum=60, label="frames per second")
            space = gr.Radio(["w", "z"] if w_space else ["z"], value="w" if w_space else "z", label="interpolate in (w for a walk through latents)")
            loop = gr.Checkbox(False, label="loop back to the first point")
            sampling = sampling_inputs(studio, "walk")
            # Any file is taken, so that the studio's check names a wrong one in its own line.
            latents = gr.File(
                label="latents from project (*_ws.pt): file1, file2 ... in upload order", file_count="multiple", type="filepath",
                visible=w_space, elem_id="walk_latents",
            )  # fmt: skip
            button = gr.Button("Walk", variant="primary", elem_id="walk_button")
        with gr.Column():
            video = gr.Video(label="walk (MP4)", elem_id="walk_video")
            command = command_box("walk_command")

    def walk(
        seeds: str, steps: float, fps: float, space: str, loop: bool, truncation: float, noise_mode: str, class_index: float | None,
        latents: list[str] | None = None,
    ) -> tuple:  # fmt: skip
        action = one_line(studio.walk, lambda r: (str(r.files[0]), r.command))
        return action(seeds, whole(steps), float(fps), space, loop, truncation, noise_mode, whole(class_index), latents)

    # The uploads come last: callers of the endpoint that pass the first eight inputs keep working.
    button.click(walk, [seeds, steps, fps, space, loop, *sampling, latents], [video, command], api_name="walk")


def project_panel(studio: Studio) -> None:
    num_ws = int(studio.generator.num_ws)
    with gr.Row():
        with gr.Column():
            photo = upload("photo to invert", "project_photo")
            steps = gr.Number(300, precision=0, label=f"optimisation steps (up to {MAX_PROJECT_STEPS})", elem_id="project_steps")
            space = gr.Radio(["w+", "w"], value="w+", label="latent space")
            seed = gr.Number(0, precision=0, label="seed of the latent noise")
            style = upload("then mix it: a style photo whose fine layers replace the photo's (optional)", "project_style")
            coarse = gr.Slider(1, max(1, num_ws - 1), value=max(1, num_ws // 2), step=1, label="layers kept from the photo (with a style photo)")
            button = gr.Button("Project", variant="primary", elem_id="project_button")
        with gr.Column():
            image = gr.Image(label="reconstruction (or the mix)", type="filepath", format="png", elem_id="project_image")
            latent = gr.File(label="latent (W+ rows, for interpolate --latents)")
            walk_name = gr.Markdown(elem_id="project_walk_name")
            command = command_box("project_command")

    def project(photo: str | None, steps: float, space: str, seed: float, style: str | None, coarse: float, progress: gr.Progress = gr.Progress()) -> tuple:
        def on_step(done: int, total: int) -> None:
            progress((done, total), desc="projecting")

        action = one_line(lambda *a: studio.project(*a, on_step=on_step), lambda r: (str(r.files[0]), str(r.files[2]), r.command, r.latents))
        return action(photo, whole(steps), space, whole(seed), style, whole(coarse))

    def walk_hint(names: tuple[str, ...]) -> str:
        style = f", the style photo's `{names[1]}`" if len(names) > 1 else ""
        return f"the photo's latent is `{names[0]}`{style}: walk through it (Walk: `0,{names[0]}`) or mix it with seeds (Style mixing: rows `{names[0]}`)"

    names = gr.State(())  # not an API output: the endpoint returns image, latent, command
    event = button.click(project, [photo, steps, space, seed, style, coarse], [image, latent, command, names], api_name="project")
    event.success(walk_hint, names, walk_name, api_visibility="private")


def stylize_panel(studio: Studio) -> None:
    with gr.Row():
        with gr.Column():
            photo = upload("photo", "stylize_photo")
            style = upload("style image", "stylize_style") if studio.style_image else gr.State(None)
            alpha = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="strength (alpha)", elem_id="stylize_alpha")
            keep_color = gr.Checkbox(False, label="preserve the photo's colours")
            style_size = gr.Number(512, precision=0, minimum=0, label="style image short side (stroke scale)", visible=studio.style_image)
            tile_size = gr.Number(DEFAULT_TILE_SIZE, precision=0, minimum=MIN_TILE_SIZE, label="tile size (larger photos are tiled)", elem_id="stylize_tile_size")
            button = gr.Button("Stylize", variant="primary", elem_id="stylize_button")
        with gr.Column():
            image = gr.Image(label="result (full size)", type="filepath", elem_id="stylize_image")
            download = gr.File(label="download")
            command = command_box("stylize_command")

    def stylize(photo: str | None, style: str | None, alpha: float, keep_color: bool, style_size: float, tile_size: float) -> tuple:
        action = one_line(studio.stylize, lambda r: (str(r.files[0]), str(r.files[0]), r.command))
        return action(photo, style, alpha, keep_color, whole(style_size), whole(tile_size))

    button.click(stylize, [photo, style, alpha, keep_color, style_size, tile_size], [image, download, command], api_name="stylize")


PANEL_BUILDERS: dict[str, Callable[[Studio], None]] = {
    "generate": generate_panel,
    "style_mix": style_mix_panel,
    "walk": walk_panel,
    "project": project_panel,
    "stylize": stylize_panel,
}
