"""The studio in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) opens
the page of a tiny model of each algorithm, generates, moves the truncation slider, mixes styles and
stylizes an uploaded photo; each image shown must change and equal what its "copy as command" line
makes with the CLI; it also projects a photo and walks through its latent. Screenshots go to the folder the test prints (or $STUDIO_SCREENSHOTS)."""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from tests.studio.conftest import as_png_frames, same_videos, encoded_frames, frames, pixels, png_frames, run_command_line

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium: apt-get install -y chromium")
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the studio is local: never through a proxy
WAIT_MS = 120_000  # a loaded CI machine


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("STUDIO_SCREENSHOTS") or tmp_path_factory.mktemp("studio_screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"studio screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """Opens a studio's page; every request that would leave this machine is refused and recorded."""
    pages, outside = [], []

    def keep_local(route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def opener(url: str):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", keep_local)
        page.goto(url)
        pages.append(page)
        return page

    yield opener
    for page in pages:
        page.close()
    assert outside == [], f"the page asked for files outside this machine: {outside}"


def shown_image(page, elem_id: str, before: str | None, save_to: Path) -> Path:
    """Waits until the image in ``elem_id`` is shown and differs from ``before`` (its previous src),
    then saves the file the browser was sent."""
    img = f"#{elem_id} img"
    page.wait_for_function(
        "([selector, before]) => { const i = document.querySelector(selector); return i && i.src && i.src !== before && i.complete; }",
        arg=[img, before], timeout=WAIT_MS,
    )  # fmt: skip
    src = page.locator(img).get_attribute("src")
    save_to.write_bytes(LOCAL.open(src, timeout=60).read())
    return save_to


def image_src(page, elem_id: str) -> str | None:
    found = page.locator(f"#{elem_id} img")
    return found.get_attribute("src") if found.count() else None


def command(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea").input_value()


def matches_cli(shown: Path, line: str, out: str, cwd: Path) -> None:
    run_command_line(line, cwd)
    assert np.array_equal(pixels(shown), pixels(cwd / out)), f"the page's image differs from `{line}`"


@pytest.mark.parametrize("name", ["stylegan", "stylegan3"])
def test_stylegan_page_generates_moves_truncation_and_mixes_styles(servers, open_page, screenshots, name, tmp_path):
    page = open_page(servers(name).url)
    page.locator("#generate_num input").fill("4")
    page.click("#generate_button")
    first = shown_image(page, "generate_image", None, tmp_path / "first.png")
    first_line = command(page, "generate_command")
    matches_cli(first, first_line, "generate.png", tmp_path / "cli_first")
    page.screenshot(path=screenshots / f"{name}_generate.png", full_page=True)

    slider = page.locator("#generate_truncation input[type=range]")
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)  # psi toward 0: the average image
    moved = shown_image(page, "generate_image", image_src(page, "generate_image"), tmp_path / "moved.png")
    moved_line = command(page, "generate_command")
    assert "--truncation 1.0" in first_line and "--truncation 1.0" not in moved_line
    assert not np.array_equal(pixels(first), pixels(moved))
    matches_cli(moved, moved_line, "generate.png", tmp_path / "cli_moved")
    page.screenshot(path=screenshots / f"{name}_truncation.png", full_page=True)

    page.get_by_role("tab", name="Style mixing").click()
    page.locator("#style_mix_rows textarea, #style_mix_rows input").first.fill("1,2")
    page.locator("#style_mix_cols textarea, #style_mix_cols input").first.fill("3,4")
    page.click("#style_mix_button")
    mixed = shown_image(page, "style_mix_image", None, tmp_path / "mixed.png")
    matches_cli(mixed, command(page, "style_mix_command"), "style_mix.png", tmp_path / "cli_mixed")
    page.screenshot(path=screenshots / f"{name}_style_mix.png", full_page=True)

    page.get_by_role("tab", name="Generate").click()
    page.locator("#generate_seed input").fill(str(2**32))
    page.click("#generate_button")
    message = page.get_by_text("seed 4294967296 is out of range; allowed: 0 to 4294967292 (for 4 images)", exact=True)
    message.wait_for(timeout=WAIT_MS)  # one line in the page
    assert message.is_visible()
    page.screenshot(path=screenshots / f"{name}_bad_seed.png")


@pytest.mark.parametrize("name", ["vanilla_gan", "r3gan"])
def test_generator_without_w_pages_generate_and_walk_in_z(servers, open_page, screenshots, name, tmp_path):
    page = open_page(servers(name).url)
    page.click("#generate_button")
    shown = shown_image(page, "generate_image", None, tmp_path / "shown.png")
    matches_cli(shown, command(page, "generate_command"), "generate.png", tmp_path / "cli")
    assert page.get_by_role("tab", name="Style mixing").count() == 0 and page.get_by_role("tab", name="Project").count() == 0
    assert not page.locator("#generate_truncation").is_visible()

    page.get_by_role("tab", name="Walk").click()
    page.locator("#walk_seeds textarea, #walk_seeds input").first.fill("2,7")
    page.locator("#walk_steps input").fill("2")
    page.click("#walk_button")
    page.wait_for_function("() => { const v = document.querySelector('#walk_video video'); return v && v.src; }", timeout=WAIT_MS)
    line = command(page, "walk_command")
    assert "--space z" in line
    video = tmp_path / "shown.mp4"
    video.write_bytes(LOCAL.open(page.locator("#walk_video video").get_attribute("src"), timeout=60).read())
    run_command_line(line, tmp_path / "walk")
    assert same_videos(frames(video), frames(tmp_path / "walk" / "walk.mp4")) and len(frames(video)) == 3
    page.screenshot(path=screenshots / f"{name}_walk.png", full_page=True)


@pytest.mark.parametrize("name", ["style_transfer", "arbitrary_style"])
def test_stylize_page_stylizes_an_uploaded_photo(servers, open_page, photos, screenshots, name, tmp_path):
    page = open_page(servers(name).url)
    page.locator("#stylize_photo input[type=file]").set_input_files(str(photos["large"]))
    if name == "arbitrary_style":
        page.locator("#stylize_style input[type=file]").set_input_files(str(photos["style"]))
    page.locator("#stylize_tile_size input").fill("32")  # the 100x72 photo goes in tiles, as `stylize` does it
    page.click("#stylize_button")
    shown = shown_image(page, "stylize_image", None, tmp_path / "shown.png")
    assert Image.open(shown).size == (100, 72)  # the full size
    assert not np.array_equal(pixels(shown), pixels(photos["large"]))
    line = command(page, "stylize_command")
    assert "--tile-size 32" in line
    matches_cli(shown, line, "stylize/large.png", tmp_path / "cli")
    page.screenshot(path=screenshots / f"{name}_stylize.png", full_page=True)

    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    page = open_page(servers(name).url)
    page.locator("#stylize_photo input[type=file]").set_input_files(str(text))
    page.click("#stylize_button")
    message = page.get_by_text("photo 'notes.txt' is not an image", exact=False).first
    message.wait_for(timeout=WAIT_MS)  # one line in the page
    assert message.is_visible()


def test_stylegan_page_projects_a_photo_then_walks_through_it(servers, open_page, photos, screenshots, tmp_path, monkeypatch):
    encoded = encoded_frames(monkeypatch)  # the server runs in this process
    page = open_page(servers("stylegan").url)
    page.get_by_role("tab", name="Project").click()
    page.locator("#project_photo input[type=file]").set_input_files(str(photos["photo"]))
    page.locator("#project_steps input").fill("2")
    page.click("#project_button")
    shown_image(page, "project_image", None, tmp_path / "projection.png")
    hint = page.locator("#project_walk_name")
    hint.get_by_text("the photo's latent is", exact=False).wait_for(timeout=WAIT_MS)
    name = re.search(r"latent is (proj\d+)", hint.inner_text()).group(1)
    page.screenshot(path=screenshots / "stylegan_project.png", full_page=True)

    page.get_by_role("tab", name="Walk").click()
    page.locator("#walk_seeds textarea, #walk_seeds input").first.fill(f"0,{name}")
    page.locator("#walk_steps input").fill("2")
    page.click("#walk_button")
    page.wait_for_function("() => { const v = document.querySelector('#walk_video video'); return v && v.src; }", timeout=WAIT_MS)
    line = command(page, "walk_command")
    assert "--latents" in line and "seed0_ws.pt" in line
    shown = tmp_path / "shown.mp4"
    shown.write_bytes(LOCAL.open(page.locator("#walk_video video").get_attribute("src"), timeout=60).read())
    run_command_line(as_png_frames(line), tmp_path / "png")
    assert np.array_equal(encoded[-1], png_frames(tmp_path / "png" / "frames"))  # the frames the page encoded, exactly
    run_command_line(line, tmp_path / "cli")
    assert same_videos(frames(shown), frames(tmp_path / "cli" / "walk.mp4")) and len(frames(shown)) == 3
    page.screenshot(path=screenshots / "stylegan_walk_projection.png", full_page=True)

    page.locator("#walk_seeds textarea, #walk_seeds input").first.fill("0,proj99")
    page.click("#walk_button")
    message = page.get_by_text("walk point 'proj99' is unknown; this session has: ", exact=False).first
    message.wait_for(timeout=WAIT_MS)  # one line in the page
    assert message.is_visible()
