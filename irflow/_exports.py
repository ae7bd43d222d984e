"""Public names that load on first use, for a package's ``__init__``.

``irflow`` and ``irflow.notifiers`` re-export names from deeper modules, but importing
them all up front would make ``irflow --help`` import the database stack and a read
command import smtplib. So each package gives a map of module → names, and
``lazy_exports`` builds the module's ``__getattr__`` (PEP 562), which imports a name's
module the first time the name is used, and ``__dir__``, which lists the public names
(``__all__``) before they are loaded.
"""

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, where: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``; ``where`` maps a module to its names."""
    module_of = {name: module for module, names in where.items() for name in names}

    def load(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        # Bound on the package, the next use of the name does not come here.
        setattr(sys.modules[package], name, value)
        return value

    def listing() -> list[str]:
        namespace = vars(sys.modules[package])
        dunders = (name for name in namespace if name.startswith("__"))
        return sorted({*namespace["__all__"], *dunders})

    return load, listing
