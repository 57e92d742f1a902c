"""Publishing a model folder on the Hugging Face Hub (``huggingface_hub``, imported only when asked)."""

from __future__ import annotations

from pathlib import Path

from gan_lightning.common.errors import UserError


def push_folder(folder: Path, repo_id: str, private: bool = False) -> str:
    """Creates ``repo_id`` (a model repository) if needed and uploads ``folder``; returns its URL.
    Credentials are huggingface_hub's own (``hf auth login`` or HF_TOKEN)."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise UserError("--push-to-hub needs huggingface_hub: pip install huggingface_hub") from None
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UserError(f"--push-to-hub {repo_id!r} is not a repository id; allowed: OWNER/NAME")
    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", commit_message="Upload gan_lightning model folder")
    except OSError as error:  # network and HTTP errors (huggingface_hub's derive from OSError)
        raise UserError(f"could not push {str(folder)!r} to the Hub repository {repo_id!r}: {str(error).splitlines()[0]}") from None
    return str(url)
