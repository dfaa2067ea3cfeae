"""An export folder uploaded to the Hugging Face Hub (``merbench export --push-to-hub``).

huggingface_hub does the work: ``HfApi.create_repo`` (a model repository, kept if it exists) and
``HfApi.upload_folder`` (one commit of the folder's files). The token is huggingface_hub's own:
``HF_TOKEN`` or ``hf auth login``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from merbench.errors import ConfigError, RunError

log = logging.getLogger(__name__)


def check_repo_id(repo_id: str) -> None:
    """Refuse a repository id that is not ``OWNER/NAME`` as the Hub spells them.

    Raises:
        ConfigError: naming the id and the form expected.
    """
    from huggingface_hub.errors import HFValidationError

    # huggingface_hub documents validate_repo_id under huggingface_hub.utils, whose __init__
    # imports it without re-exporting it by name (mypy's strict re-export rule).
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"--push-to-hub {repo_id!r}: {reason} Give OWNER/NAME.") from exc
    if repo_id.count("/") != 1:
        raise ConfigError(f"--push-to-hub {repo_id!r}: give OWNER/NAME, e.g. 'me/mer-cnn2d'.")


def push_to_hub(folder: Path, repo_id: str, *, private: bool = False, message: str = "") -> str:
    """Create the model repository ``repo_id`` (if missing) and upload ``folder`` to it.

    Returns:
        The repository's address.

    Raises:
        ConfigError: a repository id that is not ``OWNER/NAME``.
        RunError: the Hub refused or could not be reached (the folder is kept).
    """
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type="model",
            commit_message=message or f"merbench export of {folder.name}",
        )
    except Exception as exc:  # network, authentication, permissions: one line, model kept
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunError(
            f"--push-to-hub {repo_id}: {reason[:300]} The model stays in {folder}; log in "
            "('hf auth login' or HF_TOKEN) and push it again."
        ) from exc
    log.info("pushed %s to %s", folder, url)
    return str(url)
