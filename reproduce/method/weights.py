"""The weights α and β of eq. 7, from the ratio α/β the paper publishes."""
from typing import Protocol

BETA = 1e6  # β when only the ratio α/β is given (the authors' suggestion to pystiche)


class WeightSettings(Protocol):
    """What the weights are read from (a TransferConfig)."""
    @property
    def ratio(self) -> float: ...
    @property
    def alpha(self) -> float | None: ...
    @property
    def beta(self) -> float | None: ...


def resolve_weights(ratio: float, alpha: float | None = None,
                    beta: float | None = None) -> tuple[float, float]:
    """(α, β) of eq. 7. The ratio α/β holds unless both α and β are given:
    neither: β = BETA (1e6), α = ratio · β; β alone: α = ratio · β; α alone: β = α / ratio;
    both: as given. A zero given alone switches its term off and leaves the other at its
    default: α = 0 gives β = BETA (pure style), β = 0 gives α = ratio · BETA (pure content)."""
    if alpha is not None and beta is not None:
        return float(alpha), float(beta)
    if alpha is not None:
        return float(alpha), (alpha / ratio if alpha > 0 else BETA)
    if beta is not None:
        return (ratio * beta if beta > 0 else ratio * BETA), float(beta)
    return ratio * BETA, BETA


def loss_weights(settings: WeightSettings, has_content: bool, has_style: bool) -> tuple[float, float]:
    """(α, β) of `settings` (resolve_weights); no content image means α = 0 (pure style
    reconstruction), no style image β = 0 (pure content)."""
    alpha, beta = resolve_weights(settings.ratio, settings.alpha, settings.beta)
    return (alpha if has_content else 0.0), (beta if has_style else 0.0)
