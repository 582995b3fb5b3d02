"""Spatial control's regions as the configuration writes them (Gatys, Ecker, Bethge, Hertzmann &
Shechtman, "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017, section 4):
`NAME:CONTENT_MASK:STYLE_IMAGE[:STYLE_MASK]`, a region of the content image and the style image
(within its own mask, else all of it) whose style it takes. Torch-free: the configuration, grid
files and the figures read them."""
from typing import NamedTuple

from reproduce.errors import ReproduceError


class Region(NamedTuple):
    """A region: its name, the content image's mask, the style image, and that image's mask
    (None: the whole style image). Masks and images are paths (or input keys in a figure's
    table)."""
    name: str
    mask: str
    style: str
    style_mask: str | None = None

    def spec(self) -> str:
        """As the command line writes it."""
        return ":".join(p for p in self if p is not None)

    def files(self) -> tuple[str, ...]:
        """The files it reads: the content mask, the style image and its mask."""
        return tuple(p for p in (self.mask, self.style, self.style_mask) if p is not None)


def parse_region(spec: str) -> Region:
    """A region from NAME:CONTENT_MASK:STYLE_IMAGE[:STYLE_MASK]; one line if it is not one."""
    parts = spec.split(":") if isinstance(spec, str) else []
    if len(parts) not in (3, 4) or not all(parts):
        raise ReproduceError(f"--region {spec!r}: write NAME:CONTENT_MASK:STYLE_IMAGE"
                             f"[:STYLE_MASK], each part given")
    return Region(*parts)


def parse_regions(specs: tuple[str, ...]) -> list[Region]:
    """Every region, each name once."""
    regions = [parse_region(spec) for spec in specs]
    names = [r.name for r in regions]
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise ReproduceError(f"--region: two regions are called {twice!r}; name each once")
    return regions


def region_styles(specs: tuple[str, ...]) -> tuple[str, ...]:
    """The style images the regions take their styles from, each once, in order."""
    return tuple(dict.fromkeys(parse_region(spec).style for spec in specs))
