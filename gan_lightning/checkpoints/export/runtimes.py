"""Writing the graphs of ``graphs.py`` for other runtimes and checking each file against PyTorch:

- ONNX (``torch.onnx.export`` through ``torch.export``), run back in ONNX Runtime;
- ``torch.export`` programs (``.pt2``: ``torch.export.load(path).module()``, plain torch, no Python
  classes of ours needed).

Every file written is run on inputs of another batch size (and image size) than the traced ones and
must match the PyTorch generator to ``TOLERANCE``; otherwise the export stops with the difference
in one line and leaves no file.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.export.graphs import Graph, check_inputs

TOLERANCE = 1e-3  # max abs difference to PyTorch, images in [-1, 1]
ONNX_OPSET = 18


def graph_path(path: Path, graph: Graph) -> Path:
    """The whole generator at ``path``; StyleGAN's mapping/synthesis pair beside it (G.mapping.onnx)."""
    return path if graph.name == "generator" else path.with_name(f"{path.stem}.{graph.name}{path.suffix}")


@contextlib.contextmanager
def _quiet():
    # The exporters print progress lines and tracer warnings (shape asserts become constants); the
    # command reports the outcome itself.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _exported_program(graph: Graph) -> torch.export.ExportedProgram:
    try:
        with _quiet():
            return torch.export.export(graph.module.eval(), graph.inputs, dynamic_shapes=graph.dynamic_shapes)
    except Exception as error:  # torch.export reports unsupported layers/ops as several exception types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"cannot export the {graph.name} graph ({type(error).__name__}: {first}); "
            "use the model folder (--format safetensors), which every generator supports"
        ) from None


def _max_difference(expected: torch.Tensor, actual, graph: Graph, runtime: str) -> float:
    # Named by graph, not by file: the file is a temporary one, removed when this check fails.
    what = f"the {graph.name} graph run in {runtime}"
    instead = "nothing was written; the model folder (--format safetensors) holds every generator"
    actual = torch.as_tensor(actual)
    if actual.shape != expected.shape:
        raise UserError(f"{what} gives shape {tuple(actual.shape)} where PyTorch gives {tuple(expected.shape)}; {instead}")
    difference = (actual.float() - expected.float()).abs().max().item()
    if not difference <= TOLERANCE:
        raise UserError(f"{what} differs from PyTorch by {difference:.2e} (allowed: at most {TOLERANCE}); {instead}")
    return difference


def write_onnx(graph: Graph, path: Path, metadata: dict[str, str]) -> float:
    """``graph`` as an ONNX file with ``metadata`` in its model properties; returns the max abs
    difference to PyTorch measured in ONNX Runtime."""
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as error:
        raise UserError(f"--format onnx needs onnx, onnxscript and onnxruntime ({error}): pip install 'gan_lightning[export]'") from None
    program = _exported_program(graph)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet():
        torch.onnx.export(
            program, graph.inputs, str(path), input_names=graph.input_names, output_names=[graph.output_name],
            opset_version=ONNX_OPSET, dynamo=True, external_data=False, verbose=False,
        )  # fmt: skip
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {**metadata, "graph": graph.name})
    onnx.save(model, str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = check_inputs(graph)
    with torch.no_grad():
        expected = graph.expected(*inputs)
    (actual,) = session.run(None, {name: tensor.numpy() for name, tensor in zip(graph.input_names, inputs)})
    return _max_difference(expected, actual, graph, "ONNX Runtime")


def write_program(graph: Graph, path: Path) -> float:
    """``graph`` as a ``torch.export`` program (.pt2); returns the max abs difference to PyTorch of
    the program loaded back from the file."""
    program = _exported_program(graph)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(path))
    loaded = torch.export.load(str(path)).module()
    inputs = check_inputs(graph)
    with torch.no_grad():
        expected = graph.expected(*inputs)
        actual = loaded(*inputs)
    return _max_difference(expected, actual, graph, "torch.export")
