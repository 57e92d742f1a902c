"""notebooks/style_transfer.ipynb runs top to bottom on CPU and shows its pictures and figures."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "style_transfer.ipynb"


@pytest.mark.slow
def test_style_transfer_notebook_trains_stylizes_and_shows_results(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # the two sets, input/stylized rows, the large image, the blended one
    text = "".join(o.get("text", "") for o in outputs)
    assert "look distance to the style set" in text and "silhouette IoU" in text
    assert sorted(p.name for p in (tmp_path / "style_transfer_notebook" / "stylized").iterdir()) == sorted(
        [f"content{i}.png" for i in range(8)] + ["mosaic.png", ".gan_lightning_output"]  # the marker: not read back as input
    )
