"""Optional dependencies: import one when it is needed, or say which extra installs it.

``pip install posemods`` keeps to torch, timm, numpy and tqdm. The dataset readers need scipy and pillow
(``posemods[data]``), the pictures matplotlib (``posemods[viz]``). A missing one raises a
``ModuleNotFoundError`` naming the package and the ``pip install`` command, not a bare "No module named".
"""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_import(module: str, extra: str, purpose: str) -> ModuleType:
    """``importlib.import_module(module)``, or ``ModuleNotFoundError`` saying to install ``posemods[extra]``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        package = module.split(".")[0]
        if error.name is not None and error.name.split(".")[0] != package:
            raise  # the package is there but one of its own imports failed: show that
        raise ModuleNotFoundError(
            f'{purpose} needs {package}, which is not installed: pip install "posemods[{extra}]"', name=package
        ) from error
