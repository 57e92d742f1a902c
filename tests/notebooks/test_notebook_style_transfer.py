"""notebooks/style_transfer.ipynb runs top to bottom on CPU and shows its pictures and figures."""

from pathlib import Path

from tests.conftest import REPO, run_notebook

NOTEBOOK = REPO / "notebooks" / "style_transfer.ipynb"


def test_style_transfer_notebook_trains_stylizes_and_shows_results(tmp_path: Path) -> None:
    shorter = {'"--data.init_args.num_workers", "0",': '"--data.init_args.num_workers", "0", "--trainer.max_epochs", "2",'}
    outputs = run_notebook(NOTEBOOK, tmp_path, shorter)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # the two sets, input/stylized rows, the large image, the blended one
    text = "".join(o.get("text", "") for o in outputs)
    assert "look distance to the style set" in text and "silhouette IoU" in text
    assert sorted(p.name for p in (tmp_path / "style_transfer_notebook" / "stylized").iterdir()) == sorted(
        [f"content{i}.png" for i in range(8)] + ["mosaic.png", ".gan_lightning_output"]  # the marker: not read back as input
    )
