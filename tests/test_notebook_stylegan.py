"""notebooks/stylegan.ipynb runs top to bottom on CPU: training, truncation, style mixing, interpolation, projection."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "stylegan.ipynb"


@pytest.mark.slow
def test_stylegan_notebook_runs_and_shows_every_picture(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # untrained, trained, ADA p, truncation, style mixing, interpolation, projection loss, projection + style transfer
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 8
    text = "".join(o.get("text", "") for o in outputs)
    assert "quality trained" in text
