"""Files the commands' defaults need, found in the installed package or the checkout.

The wheel carries the sample data as the package data of `curate.sample_data` (mapped from
the repository's `sample_data/` folder by pyproject.toml) and the language-ID model under
`curate/models/`. In a checkout (tests, `make demo`) the same files are read where they are.
Nothing here downloads anything.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from curate.errors import UsageError

_PACKAGE_ROOT = Path(__file__).resolve().parent


def _checkout_sample_dir() -> Path | None:
    """The checkout's sample_data/, only where the package sits in curate's own checkout (an
    editable install): its pyproject.toml beside the package names this project. In a wheel's
    site-packages, ../sample_data (or a stray pyproject.toml there) belongs to something else."""
    import tomllib

    try:
        with open(_PACKAGE_ROOT.parent / "pyproject.toml", "rb") as fh:
            name = tomllib.load(fh).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return _PACKAGE_ROOT.parent / "sample_data" if name == "curate" else None


def sample_data_dir() -> Path:
    """The bundled sample data folder (corpus/, labels, reference, validation text, prompts)."""
    installed = Path(str(resources.files("curate"))) / "sample_data"  # curate.sample_data, in the package
    for candidate in (installed, _checkout_sample_dir()):
        if candidate is not None and (candidate / "corpus").is_dir():
            return candidate
    return installed


def sample_file(name: str) -> Path:
    """A file of the bundled sample data; a clear error naming it when it is not there."""
    path = sample_data_dir() / name
    if not path.exists():
        raise UsageError(f"the bundled sample file {name} is missing ({path}); reinstall curate "
                         f"(pip install --force-reinstall curate) or pass the file explicitly")
    return path


def model_file(name: str) -> Path:
    return _PACKAGE_ROOT / "models" / name
