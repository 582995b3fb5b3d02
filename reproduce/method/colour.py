"""Colour preservation (beyond the 2015 paper): the two linear methods of Gatys, Bethge, Hertzmann
& Shechtman, "Preserving Color in Neural Artistic Style Transfer" (arXiv 1606.05897, 2016).

- Colour histogram matching (the note's section 2.1): before synthesis, the style image's RGB
  values are mapped by x' = A x + b so that they take the content image's mean and covariance;
  the algorithm then runs unchanged.
- Luminance-only transfer (section 2.2): the algorithm runs on luminance images (YIQ's Y), the
  style's luminance first matched to the content's mean and standard deviation; the result's
  luminance is then joined to the content image's I and Q channels.

Images are H×W×3 float RGB in 0..255, as `load_image` gives them. `colour_method(name)` is the
whole of the method for a caller: its `inputs` (before synthesis), `seen` (a start image) and
`output` (after it).
"""
from typing import Any

import numpy as np

from reproduce.errors import ParameterError
from reproduce.image import Array

# A variance (in 0..255²) below which an image counts as flat along a colour direction; 8-bit
# quantisation alone gives 1/12, so only directions where the image is (nearly) constant fall under it.
VARIANCE_FLOOR = 1e-3

# RGB -> YIQ, NTSC (FCC) coefficients. I and Q rows sum to zero, so a grey pixel has I = Q = 0.
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.596, -0.274, -0.322],
                       [0.211, -0.523, 0.312]])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def _float(image: Array) -> np.dtype[Any]:
    """The image's own float dtype, float32 for integer images."""
    return image.dtype if image.dtype.kind == "f" else np.dtype(np.float32)


def pixel_statistics(rgb: Array) -> tuple[Array, Array]:
    """μ and Σ: the mean (3,) and covariance (3×3) of an image's RGB values over its pixels."""
    x = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    return x.mean(axis=0), np.cov(x, rowvar=False, bias=True)


def symmetric_power(cov: Array, p: float) -> Array:
    """Σ^p = U Λ^p Uᵀ for a covariance Σ = U Λ Uᵀ (eigendecomposition), taken on Σ's range:
    directions of variance at most VARIANCE_FLOOR count as flat and get 0 (for p < 0 this is
    the pseudo-inverse's power)."""
    lam, U = np.linalg.eigh(cov)
    d = np.where(lam > VARIANCE_FLOOR, np.maximum(lam, VARIANCE_FLOOR) ** p, 0.0)
    power: Array = (U * d) @ U.T
    return power


def colour_transform(style_rgb: Array, content_rgb: Array) -> tuple[Array, Array]:
    """(A, b) of the note's colour transfer, its "image analogies" variant (section 2.1):

        A = Σ_C^{1/2} Σ_S^{-1/2},   b = μ_C − A μ_S,

    with μ, Σ the RGB mean and covariance of the content (C) and style (S) images and Σ^{1/2}
    the symmetric square root from the eigendecomposition. Then A Σ_S Aᵀ = Σ_C. (The note's
    other variant, A = L_C L_S⁻¹ from the Cholesky factors Σ = L Lᵀ, also matches Σ_C but is
    not used here.)"""
    mu_S, Sigma_S = pixel_statistics(style_rgb)
    mu_C, Sigma_C = pixel_statistics(content_rgb)
    A = symmetric_power(Sigma_C, 0.5) @ symmetric_power(Sigma_S, -0.5)
    return A, mu_C - A @ mu_S


def match_colour_histogram(style_rgb: Array, content_rgb: Array) -> Array:
    """The style image with the content image's RGB mean and covariance: x' = A x + b per pixel
    (`colour_transform`). Not clipped to 0..255, since clipping would undo the match; the
    network takes any values. A style flat along a colour direction stays flat along it."""
    A, b = colour_transform(style_rgb, content_rgb)
    out: Array = np.asarray(style_rgb, dtype=np.float64) @ A.T + b
    return out.astype(_float(style_rgb))


def rgb_to_yiq(rgb: Array) -> Array:
    """H×W×3 RGB -> H×W×3 YIQ (Y: luminance, I and Q: chroma), in RGB's units."""
    yiq: Array = np.asarray(rgb, dtype=np.float64) @ RGB_TO_YIQ.T
    return yiq


def yiq_to_rgb(yiq: Array) -> Array:
    """The inverse of `rgb_to_yiq`."""
    rgb: Array = np.asarray(yiq, dtype=np.float64) @ YIQ_TO_RGB.T
    return rgb


def luminance(rgb: Array) -> Array:
    """L = Y of YIQ: 0.299 R + 0.587 G + 0.114 B, an H×W array in 0..255."""
    L: Array = rgb_to_yiq(rgb)[..., 0]
    return L


def match_luminance(style_L: Array, content_L: Array) -> Array:
    """The note's luminance matching (section 2.2): L_S' = σ_C / σ_S (L_S − μ_S) + μ_C, so the
    style's luminance takes the content's mean μ_C and standard deviation σ_C. A flat style
    (σ_S = 0) becomes the constant μ_C."""
    L_S = np.asarray(style_L, dtype=np.float64)
    L_C = np.asarray(content_L, dtype=np.float64)
    sigma_S = L_S.std()
    scale = L_C.std() / sigma_S if sigma_S > 0 else 0.0
    matched: Array = scale * (L_S - L_S.mean()) + L_C.mean()
    return matched


def grey(L: Array) -> Array:
    """A luminance H×W as the 3-channel grey image R = G = B = L that the network takes (its
    YIQ is (L, 0, 0)); float32, not clipped."""
    image: Array = np.repeat(np.asarray(L, dtype=np.float32)[..., None], 3, axis=-1)
    return image


def to_luminance_image(rgb: Array) -> Array:
    """An RGB image's luminance as a grey 3-channel image: `grey(luminance(rgb))`."""
    return grey(luminance(rgb))


def combine(result_L: Array, content_rgb: Array) -> Array:
    """The luminance-only output: YIQ (result_L, I_C, Q_C), the synthesised luminance with the
    content image's chroma, back in RGB and clipped to 0..255 (float32)."""
    yiq = rgb_to_yiq(content_rgb)
    yiq[..., 0] = result_L
    return np.clip(yiq_to_rgb(yiq), 0, 255).astype(np.float32)


class Plain:
    """No colour preservation: the 2015 algorithm, colours and all."""

    def inputs(self, content: Array | None,
               styles: list[Array]) -> tuple[Array | None, list[Array]]:
        """The (content, styles) the network sees, from the RGB images at their synthesis sizes."""
        return content, styles

    def seen(self, rgb: Array) -> Array:
        """The image the network sees in place of an RGB image (a start image, say)."""
        return rgb

    def output(self, result_rgb: Array, content: Array | None) -> Array:
        """The final RGB image from the synthesised one."""
        return result_rgb


class HistogramMatching(Plain):
    """Section 2.1: the styles colour-matched to the content (match_colour_histogram)."""

    def inputs(self, content: Array | None,
               styles: list[Array]) -> tuple[Array | None, list[Array]]:
        return _content(content), [match_colour_histogram(s, _content(content)) for s in styles]


class LuminanceOnly(Plain):
    """Section 2.2: the network sees luminance images (the style's matched to the content's
    mean and deviation); the result's luminance is joined to the content's chroma (combine)."""

    def inputs(self, content: Array | None,
               styles: list[Array]) -> tuple[Array | None, list[Array]]:
        L_C = luminance(_content(content))
        return self.seen(_content(content)), [grey(match_luminance(luminance(s), L_C))
                                              for s in styles]

    def seen(self, rgb: Array) -> Array:
        return to_luminance_image(rgb)

    def output(self, result_rgb: Array, content: Array | None) -> Array:
        return combine(luminance(result_rgb), _content(content))


METHODS: dict[str, Plain] = {"histogram": HistogramMatching(), "luminance": LuminanceOnly()}
COLOUR_METHODS = tuple(METHODS)  # preserve_colour's values; None: the paper's algorithm


def colour_method(name: str | None) -> Plain:
    """The colour preservation called `name` (None: none, the paper's algorithm)."""
    if name is None:
        return Plain()
    if name not in METHODS:
        raise ParameterError(f"preserve_colour must be one of {', '.join(METHODS)} or None, "
                             f"not {name!r}")
    return METHODS[name]


def _content(content: Array | None) -> Array:
    if content is None:
        raise ParameterError("colour preservation needs a content image")
    return content
