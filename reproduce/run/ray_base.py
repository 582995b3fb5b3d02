"""What both sides of the Ray backend share, importing no torch: Ray itself (an optional
dependency, imported when a cluster is used: `pip install -e '.[ray]'`) and the actor that counts
each panel's tries, whose process imports this module alone."""
from types import ModuleType

from reproduce.errors import ReproduceError


def import_ray() -> ModuleType:
    """The ray module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ReproduceError("Ray is not installed: pip install -e '.[ray]'") from None
    return ray


class Attempts:
    """Counts the tries of each panel (a Ray actor: a lost worker cannot lose its count). One
    per driver and cluster, as starting its process costs seconds; keys are (run, panel)."""

    def __init__(self) -> None:
        self.tries: dict[object, int] = {}

    def begin(self, key: object) -> int:
        self.tries[key] = self.tries.get(key, 0) + 1
        return self.tries[key]
