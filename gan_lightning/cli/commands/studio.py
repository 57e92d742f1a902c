"""`python -m gan_lightning studio`: a web page to explore, mix and stylize with one model.

    studio --ckpt last.ckpt                        # http://127.0.0.1:7860, this machine only
    studio --ckpt my_model/ --host 0.0.0.0         # reachable from the network (no login: trusted networks only)

Only the panels the model supports are shown; each result has the CLI line that reproduces it, and
each action is a named API endpoint for ``gradio_client``. Everything the page writes (uploads,
results) goes to one temporary folder. Needs the ``studio`` extra: pip install "gan_lightning[studio]".
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from gan_lightning.cli.arguments import parse_command_line
from gan_lightning.common.errors import UserError

DEFAULT_PORT = 7860


class Running(NamedTuple):
    """A studio served without blocking (tests, notebooks): its model session, page and address."""

    studio: Any  # session.Studio (imported with Gradio, after the environment is set)
    page: Any  # gradio.Blocks: page.close() stops the server
    url: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint from `fit` or `convert`, or a model folder from `export`")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def offline_gradio(workdir: Path) -> None:
    """Before Gradio is imported: no analytics or version check over the network, and its uploads
    and cache inside ``workdir``."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TEMP_DIR", str(workdir / "gradio"))  # one per process: Gradio reads it at each upload
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def serve(ckpt: str, host: str, port: int, device: str, block: bool = True) -> Running:
    """Serves the studio on ``host:port``; with ``block`` False, returns while it keeps serving."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port} is invalid; allowed: 1 to 65535")
    from gan_lightning.cli.studio.session import MAX_UPLOAD_BYTES, Studio

    workdir = Path(tempfile.mkdtemp(prefix="gan_lightning_studio_"))
    studio = Studio(ckpt, device, workdir / "results")  # a bad checkpoint fails before the seconds Gradio takes to load
    offline_gradio(workdir)
    try:
        from gan_lightning.cli.studio.page import THEME, build_page
    except ImportError as error:
        raise UserError(f"the studio needs Gradio ({error}); install it with: pip install \"gan_lightning[studio]\"") from None
    page = build_page(studio)
    print(f"studio: {studio.algorithm} model {ckpt}, panels {', '.join(studio.panels)}; outputs in {workdir}")
    try:
        _, url, _ = page.queue(default_concurrency_limit=1).launch(
            server_name=host, server_port=port, share=False, prevent_thread_lock=not block, quiet=not block,
            max_file_size=MAX_UPLOAD_BYTES, allowed_paths=[str(studio.workdir)], footer_links=["api"], theme=THEME,
        )  # fmt: skip
    except OSError as error:  # the port is taken or the address cannot be bound
        raise UserError(f"cannot serve on {host}:{port} ({error}); give another --port or --host") from None
    return Running(studio, page, url)


def main(argv: list[str]) -> None:
    args = parse_command_line(argv, "studio", __doc__, add_arguments)
    serve(args.ckpt, args.host, args.port, args.device)
