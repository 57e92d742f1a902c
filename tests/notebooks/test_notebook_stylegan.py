"""notebooks/stylegan.ipynb runs top to bottom on CPU: training, truncation, style mixing, interpolation, projection."""

from pathlib import Path

from tests.conftest import REPO, run_notebook

NOTEBOOK = REPO / "notebooks" / "stylegan.ipynb"


def test_stylegan_notebook_runs_and_shows_every_picture(tmp_path: Path) -> None:
    shorter = {
        "num_train=16 * 400": "num_train=16 * 40",
        'content_ws, losses = project(G, content, space="w+", steps=150, lr=0.1, w_avg_samples=1000)':
            'content_ws, losses = project(G, content, space="w+", steps=20, lr=0.1, w_avg_samples=200)',
        'style_ws, _ = project(G, style, space="w+", steps=150, lr=0.1, w_avg_samples=1000)':
            'style_ws, _ = project(G, style, space="w+", steps=20, lr=0.1, w_avg_samples=200)',
    }  # fmt: skip
    outputs = run_notebook(NOTEBOOK, tmp_path, shorter)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # untrained, trained, ADA p, truncation, style mixing, interpolation, projection loss, projection + style transfer
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 8
    text = "".join(o.get("text", "") for o in outputs)
    assert "quality trained" in text
