"""What makes an exported model folder a Hugging Face Space (Gradio SDK) that runs the studio
unchanged: ``app.py``, ``requirements.txt`` and the Space settings in the card's front matter."""

from __future__ import annotations

from pathlib import Path

import gan_lightning
from gan_lightning.common.outputs import written_file

APP_NAME = "app.py"
REQUIREMENTS_NAME = "requirements.txt"
SPACE_FILES: tuple[str, ...] = (APP_NAME, REQUIREMENTS_NAME)

# Spaces set GRADIO_SERVER_NAME=0.0.0.0; run anywhere else, the app serves this machine only.
APP = '''"""The gan_lightning studio over the model in this folder (a Hugging Face Space, or: python app.py)."""

import os
from pathlib import Path

from gan_lightning.cli.commands.studio import serve

serve(
    str(Path(__file__).resolve().parent),
    host=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
    port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    device=os.environ.get("STUDIO_DEVICE", "auto"),
)
'''


def requirements() -> str:
    """The package at the version that exported the folder, with the studio's extra."""
    return f"gan_lightning[studio]=={gan_lightning.__version__}\n"


def space_card(card: str) -> str:
    """The model card with the Space settings added to its YAML front matter."""
    assert card.startswith("---\n"), "the model card starts with its front matter"
    return "---\nsdk: gradio\napp_file: app.py\n" + card[len("---\n") :]


def write_space(folder: Path) -> None:
    """Adds app.py and requirements.txt to the model folder (its card gets ``space_card``)."""
    with written_file(folder / APP_NAME) as temporary:
        temporary.write_text(APP)
    with written_file(folder / REQUIREMENTS_NAME) as temporary:
        temporary.write_text(requirements())
