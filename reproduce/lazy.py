"""Lazy exports (PEP 562): a package names what it offers, and a name's module is imported on its
first use, so that importing a package (or the configuration) does not import torch."""
import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any],
                                                                Callable[[], list[str]]]:
    """The module `__getattr__` and `__dir__` of `package`, exporting each name of `names` from
    the submodule it maps to (`{"load_network": "load"}`: package.load.load_network)."""
    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
