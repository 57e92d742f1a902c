"""`export --format safetensors --space`: the model folder gets app.py and requirements.txt and runs
the studio from the folder alone, as a Hugging Face Space would run it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from gan_lightning import __version__
from gan_lightning.cli.main import main
from tests.conftest import REPO
from tests.studio.conftest import MODELS, free_port, pixels, run_command_line

gradio_client = pytest.importorskip("gradio_client")


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 240) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"app.py ended with status {process.returncode}: {process.stdout.read()}")
        try:
            opener.open(url, timeout=5)
            return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"app.py did not serve {url} within {seconds} s")


def test_an_exported_space_folder_runs_the_studio_alone(tmp_path):
    folder = tmp_path / "space"
    main(["export", "--ckpt", str(MODELS["stylegan"]), "--format", "safetensors", "--space", "--out", str(folder)])
    assert (folder / "requirements.txt").read_text() == f"gan_lightning[studio]=={__version__}\n"
    assert (folder / "README.md").read_text().startswith("---\nsdk: gradio\napp_file: app.py\n")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))

    port = free_port()
    # The package as the Space's requirements would install it: here, this checkout.
    env = {**os.environ, "PYTHONPATH": str(REPO), "GRADIO_SERVER_PORT": str(port), "STUDIO_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    env.pop("GRADIO_SERVER_NAME", None)
    process = subprocess.Popen([sys.executable, "app.py"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_serving(url, process)
        api = gradio_client.Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        image, command = api.predict(7, 2, 0.6, "const", 0, api_name="/generate")
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert f"--ckpt {folder}" in command
    run_command_line(command, tmp_path / "cli")
    assert np.array_equal(pixels(image), pixels(tmp_path / "cli" / "generate.png"))
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # the app wrote nothing into its folder


def test_space_is_for_model_folders_only(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["export", "--ckpt", str(MODELS["stylegan"]), "--format", "onnx", "--space", "--out", str(tmp_path / "g.onnx")])
    assert "--space makes a model folder a Space: use it with --format safetensors, not onnx" in capsys.readouterr().err
