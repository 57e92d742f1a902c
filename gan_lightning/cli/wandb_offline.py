"""W&B must never stop a run at a login prompt: without credentials it logs offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def wandb_has_credentials() -> bool:
    """True when W&B can log in without asking: an API key in the environment or in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "wandb" in netrc.read_text()  # `wandb login` writes a machine api.wandb.ai entry
    except OSError:
        return False


def wandb_offline_unless_logged_in() -> None:
    """Sets WANDB_MODE=offline (and says so) unless a mode is set or W&B has credentials."""
    if os.environ.get("WANDB_MODE") or wandb_has_credentials():
        return
    os.environ["WANDB_MODE"] = "offline"
    print(
        "W&B: no credentials found (WANDB_API_KEY or `wandb login`), logging offline; upload later with "
        "`wandb sync <save_dir>/wandb/offline-run-*` (the folder W&B names below)",
        file=sys.stderr,
    )
