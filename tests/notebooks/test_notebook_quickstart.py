"""notebooks/quickstart.ipynb runs top to bottom on CPU and shows samples, curves and quality figures."""

from pathlib import Path

from tests.conftest import REPO, run_notebook

NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_trains_and_shows_results(tmp_path: Path) -> None:
    outputs = run_notebook(NOTEBOOK, tmp_path, shorter={"limit_train_batches=256": "limit_train_batches=16"})
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 4  # real, untrained, trained, curves
    text = "".join(o.get("text", "") for o in outputs)
    assert "recognisable shapes" in text and "val/fid" in text
