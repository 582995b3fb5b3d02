"""Style losses E_l besides the paper's eq. 4, to compare loss functions as texture representations.

Each loss is a small class, named in reproduce.method.STYLE_LOSSES (--style-loss): made once
from the painting's features S (an N_l × M_S matrix, `feature_matrix` of its blob), it is called
on the image's features F (an
N_l × M_l matrix) and returns E_l as a 0-d tensor that autograd differentiates w.r.t. F. The caller
sums w_l E_l over the style layers, as eq. 5 does. Notation: μ_F, σ_F ∈ R^{N_l} are the per-channel
mean and population standard deviation of F over its M_l positions (μ_S, σ_S the painting's);
G = F Fᵀ (eq. 3) and A = S Sᵀ. MMD²_b is the biased (V-statistic) estimate of the squared maximum mean
discrepancy between the image's positions x_i (columns of F) and the painting's y_j (columns of S),

    MMD²_b = 1/M_F² Σ_ij k(x_i, x_j) + 1/M_S² Σ_ij k(y_i, y_j) − 2/(M_F M_S) Σ_ij k(x_i, y_j).

Several style images: the project blends Gram targets, A = Σ_k b_k A_k (b normalised to sum 1,
blend_weights).
`gram` does exactly that. mmd-linear, mmd-poly, stats and sliced-wasserstein match the mixture
distribution Σ_k b_k P_k instead, P_k the empirical distribution of painting k's positions (each of
painting k's M_k positions weighs b_k / M_k); when every painting has the image's M_l positions,
mmd-poly with c = 0 against the mixture is `gram` with the blended target (to rounding). mmd-gaussian's
linear-time estimate pairs single positions and takes one style image only.

Everything random (mmd-gaussian's pairing, sliced-wasserstein's directions) is drawn once, when the
loss is made, from a seed or a torch.Generator: L-BFGS-B needs the same f at the same x.
"""
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from reproduce.errors import ReproduceError
from reproduce.method import MMD_C, STYLE_LOSSES
from reproduce.method.losses import gram, style_layer_loss

Paintings = torch.Tensor | Sequence[torch.Tensor]  # one painting's S, or several to blend
Seed = int | torch.Generator


class StyleLoss(Protocol):
    """A style loss: made once from the paintings' S (`paintings`, plus the keyword options its
    class lists in `options`), it gives E_l of the image's features F."""

    options: tuple[str, ...]

    def __call__(self, F: torch.Tensor) -> torch.Tensor: ...


def make_style_loss(name: str, S: Paintings, b: Sequence[float] | None = None,
                    **options: Any) -> StyleLoss:
    """The style loss `name` with targets from S (one painting, or a list of paintings blended with
    weights b). `options` may hold every loss's keyword options (c, seed): each loss takes those
    its class lists in `options`, so a caller can pass one config's options whatever loss it names."""
    if name not in STYLE_LOSSES:
        raise ReproduceError(f"unknown style loss {name!r}; the style losses are "
                             f"{', '.join(STYLE_LOSSES)}")
    cls = LOSS_CLASSES[name]
    loss: StyleLoss = cls(S, b, **{key: value for key, value in options.items()
                                   if key in cls.options})
    return loss


def blend_weights(b: Sequence[float]) -> list[float]:
    """The blend weights b_k normalised to sum 1; divided by their largest first, so that the sum
    cannot overflow (1e308 + 1e308)."""
    weights = np.asarray(b, dtype=np.float64)
    weights = weights / weights.max()
    return [float(b_k) for b_k in weights / weights.sum()]


def paintings(S: Paintings, b: Sequence[float] | None = None
              ) -> tuple[list[torch.Tensor], list[float]]:
    """The paintings' feature matrices S_k (detached) and their blend weights b_k (blend_weights);
    one tensor is one painting of weight 1."""
    Ss = [S] if isinstance(S, torch.Tensor) else list(S)
    weights = [1.0] * len(Ss) if b is None else [float(b_k) for b_k in b]
    if not Ss or len(weights) != len(Ss):
        raise ReproduceError(f"{len(weights)} blend weights for {len(Ss)} style images")
    if any(not (np.isfinite(b_k) and b_k > 0) for b_k in weights):
        raise ReproduceError(f"blend weights must be finite and positive, not {weights}")
    if len({S_k.shape[0] for S_k in Ss}) > 1:
        raise ReproduceError("the style images' features have different numbers of channels N_l")
    return [S_k.detach() for S_k in Ss], blend_weights(weights)


def weighted_sum(terms: Sequence[tuple[float, torch.Tensor]]) -> torch.Tensor:
    """Σ_k b_k X_k, added in order from the first (the same rounding as the paper's one target)."""
    total = terms[0][0] * terms[0][1]
    for b_k, X_k in terms[1:]:
        total = total + b_k * X_k
    return total


def generator(seed: Seed) -> torch.Generator:
    """A CPU generator: `seed` itself when it is one (its draws continue its stream), else a new
    generator seeded with the integer."""
    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(int(seed))


def channel_mean(F: torch.Tensor) -> torch.Tensor:
    """μ_i = 1/M Σ_m F_im, the mean of each channel over the positions."""
    return F.mean(dim=1)


def channel_deviation(F: torch.Tensor) -> torch.Tensor:
    """σ_i = √(1/M Σ_m (F_im − μ_i)²), the population standard deviation of each channel."""
    return safe_sqrt(F.var(dim=1, correction=0))


def safe_sqrt(var: torch.Tensor) -> torch.Tensor:
    """√var with gradient 0 where var = 0 (a channel constant over the image, as a dead ReLU's is),
    where √'s own is infinite; the inner where keeps that infinity out of the gradient."""
    positive = var > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, var, torch.ones_like(var))),
                       torch.zeros_like(var))


def mixture_mean(Ss: list[torch.Tensor], b: list[float]) -> torch.Tensor:
    """μ = Σ_k b_k μ_k, the mean of the mixture Σ_k b_k P_k."""
    return weighted_sum([(b_k, channel_mean(S_k)) for b_k, S_k in zip(b, Ss)])


class Gram:
    """Eq. 4 (Gatys et al.): E_l = 1/(4 N_l² M_l²) Σ_ij (G_ij − A_ij)², M_l the image's; the paper's
    loss, computed by the paper's functions (losses.gram, losses.style_layer_loss). Several style
    images: A = Σ_k b_k A_k, the project's blend of Gram targets."""

    options: tuple[str, ...] = ()

    def __init__(self, S: Paintings, b: Sequence[float] | None = None) -> None:
        Ss, b = paintings(S, b)
        self.A = weighted_sum([(b_k, gram(S_k)) for b_k, S_k in zip(b, Ss)])

    def __call__(self, F: torch.Tensor) -> torch.Tensor:
        return style_layer_loss(gram(F), self.A, *F.shape)


class MMDLinear:
    """MMD²_b with the linear kernel k(x, y) = xᵀy (Li et al. 2017), over 4 N_l² like eq. 4:
    E_l = ‖μ_F − μ_S‖² / (4 N_l²), since Σ_ij x_iᵀy_j = M_F M_S μ_Fᵀμ_S and likewise for the other
    two sums, so MMD²_b = ‖μ_F − μ_S‖². Only the channel means are matched. Several style images: μ_S is the
    mixture's, Σ_k b_k μ_k.

    Li et al.'s code (mmd_loss.py) differentiates ½‖Σ_i x_i − Σ_j y_j‖² and scales it by
    1/(N_l M_l), i.e. M_l/(2 N_l) MMD²_b; the 1/(4 N_l²) here is eq. 4's, so that mmd-poly is `gram`
    plus this term (E_l(mmd-poly) = E_l(gram) + 2c E_l(mmd-linear) for equal M)."""

    options: tuple[str, ...] = ()

    def __init__(self, S: Paintings, b: Sequence[float] | None = None) -> None:
        self.mu = mixture_mean(*paintings(S, b))

    def __call__(self, F: torch.Tensor) -> torch.Tensor:
        N = F.shape[0]
        return (channel_mean(F) - self.mu).pow(2).sum() / (4.0 * N**2)


class MMDPoly:
    """MMD²_b with the polynomial kernel k(x, y) = (xᵀy + c)² (Li et al. 2017), over 4 N_l²:

        E_l = 1/(4 N_l²) ‖G/M_F − A/M_S‖² + c ‖μ_F − μ_S‖² / (2 N_l²),

    (the c² terms cancel). For M_F = M_S this is E_l(gram) + c‖μ_F − μ_S‖²/(2N_l²), and with c = 0
    it is eq. 4 exactly: the Gram term is computed by style_layer_loss with the target
    (M_F/M_S) A, which is A itself then. Several style images: A/M_S is the mixture's second moment
    Σ_k b_k A_k/M_k and μ_S its mean. Li et al.'s code scales this MMD²_b by M_l/(4 N_l²)."""

    options: tuple[str, ...] = ("c",)

    def __init__(self, S: Paintings, b: Sequence[float] | None = None, *,
                 c: float = MMD_C) -> None:
        Ss, b = paintings(S, b)
        self.c = float(c)
        self.terms = [(b_k, S_k.shape[1], gram(S_k)) for b_k, S_k in zip(b, Ss)]  # (b_k, M_k, A_k)
        self.mu = mixture_mean(Ss, b)

    def __call__(self, F: torch.Tensor) -> torch.Tensor:
        N, M = F.shape
        # Σ_k b_k A_k M/M_k, the target on G's scale; (b_k M)/M_k is exactly 1 for one painting of M
        A = weighted_sum([(b_k * M / M_k, A_k) for b_k, M_k, A_k in self.terms])
        return (style_layer_loss(gram(F), A, N, M)
                + self.c * (channel_mean(F) - self.mu).pow(2).sum() / (2.0 * N**2))


def random_pairs(M: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """⌊M/2⌋ disjoint pairs (i_p, i'_p) of positions 0 … M−1, consecutive entries of a random
    permutation (as Li et al. pair them)."""
    order = torch.randperm(M, generator=g)
    half = M // 2
    return order[0:2 * half:2], order[1:2 * half:2]


class MMDGaussian:
    """Gretton et al.'s linear-time unbiased MMD² estimate with the Gaussian kernel
    k(x, y) = exp(−‖x − y‖² / (2σ_k²)) (Li et al. 2017), over 4 N_l:

        E_l = 1/(4 N_l) · 1/P Σ_p [k(x_p, x'_p) + k(y_p, y'_p) − k(x_p, y'_p) − k(x'_p, y_p)],

    (x_p, x'_p) P disjoint pairs of the image's positions and (y_p, y'_p) of the painting's, the
    pairings random permutations (random_pairs) drawn once from the seed: the painting's when the
    loss is made, the image's for each image size M_l from a seed drawn then (P = min(⌊M_F/2⌋,
    ⌊M_S/2⌋)). σ_k² is the mean ‖y_p − y'_p‖² over all ⌊M_S/2⌋ pairs of the painting, fixed then.

    Li et al.'s code (mmd_loss.py) differs: it redraws both pairings at every evaluation, and sets
    the bandwidth at every evaluation from all four kinds of sampled pairs (the image's, the
    painting's and the crossed ones) as k = exp(−‖x − y‖² / mean ‖·‖²), i.e. 2σ_k² = mean, treated
    as a constant in its gradient; that is a different f at every x and a gradient of none of them,
    which L-BFGS-B's line search cannot follow. Here both are fixed, so f is one function of F and
    the gradient is its gradient, with σ_k² = the mean (twice their σ_k² when the image's features
    are distributed as the painting's).
    Normalisation: their operator's gradient is that of ½ Σ_p h_p times 1/(N_l M_l), i.e. of
    MMD²_l/(4 N_l) for even M_l (the style weight aside); we take the same 1/(4 N_l). The estimate
    is unbiased, so it can be negative. One style image only: the pairs are of single positions."""

    options: tuple[str, ...] = ("seed",)

    def __init__(self, S: Paintings, b: Sequence[float] | None = None, *,
                 seed: Seed = 0) -> None:
        Ss, _ = paintings(S, b)
        if len(Ss) > 1:
            raise ReproduceError("mmd-gaussian takes one style image: its linear-time estimate pairs "
                                 "single positions, not a blend of paintings")
        self.S = Ss[0]
        if self.S.shape[1] < 2:
            raise ReproduceError("mmd-gaussian needs at least 2 positions in the painting's layer")
        g = generator(seed)
        j, j2 = random_pairs(self.S.shape[1], g)
        self.pairs_S = (j.to(self.S.device), j2.to(self.S.device))
        self.seed_F = int(torch.randint(2**62, (), generator=g))
        j, j2 = self.pairs_S
        self.sigma2 = squared_distances(self.S[:, j], self.S[:, j2]).mean()
        if not self.sigma2 > 0:
            raise ReproduceError("mmd-gaussian: the painting's paired features are all equal, so the "
                                 "kernel's bandwidth σ_k² is 0")
        self._pairs_F: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def pairs_F(self, M: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The image's pairing for M positions: drawn once per M from seed_F, so the same each call."""
        if M not in self._pairs_F:
            i, i2 = random_pairs(M, torch.Generator().manual_seed(self.seed_F))
            self._pairs_F[M] = (i.to(self.S.device), i2.to(self.S.device))
        return self._pairs_F[M]

    def kernel(self, d2: torch.Tensor) -> torch.Tensor:
        """k = exp(−d² / (2σ_k²)) of squared distances d²."""
        return torch.exp(-d2 / (2.0 * self.sigma2))

    def __call__(self, F: torch.Tensor) -> torch.Tensor:
        N, M = F.shape
        if M < 2:
            raise ReproduceError("mmd-gaussian needs at least 2 positions in the image's layer")
        P = min(M // 2, self.S.shape[1] // 2)
        i, i2 = (index[:P] for index in self.pairs_F(M))
        j, j2 = (index[:P] for index in self.pairs_S)
        x, x2, y, y2 = F[:, i], F[:, i2], self.S[:, j], self.S[:, j2]
        h = (self.kernel(squared_distances(x, x2)) + self.kernel(squared_distances(y, y2))
             - self.kernel(squared_distances(x, y2)) - self.kernel(squared_distances(x2, y)))
        return h.mean() / (4.0 * N)


def squared_distances(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """‖x_p − y_p‖² for each column p of two N × P matrices."""
    return (X - Y).pow(2).sum(dim=0)


class Stats:
    """Li et al.'s batch-normalisation statistics: E_l = 1/N_l Σ_i [(μ_F,i − μ_S,i)² + (σ_F,i − σ_S,i)²],
    σ the population standard deviation (their bn_loss.py divides by M). Zero exactly when the
    means and deviations match. A channel constant over the image (σ_F,i = 0) gets the gradient of
    its mean term only (safe_sqrt), where Li et al.'s code divides by σ_F,i. Several style images:
    the mixture's moments, μ_S = Σ_k b_k μ_k and σ_S² = Σ_k b_k [σ_k² + (μ_k − μ_S)²]. Li et al.'s
    code scales this by M_l/2."""

    options: tuple[str, ...] = ()

    def __init__(self, S: Paintings, b: Sequence[float] | None = None) -> None:
        Ss, b = paintings(S, b)
        self.mu = mixture_mean(Ss, b)
        # the law of total variance: with one painting, exactly its own variance
        var = weighted_sum([(b_k, S_k.var(dim=1, correction=0) + (channel_mean(S_k) - self.mu).pow(2))
                            for b_k, S_k in zip(b, Ss)])
        self.sigma = safe_sqrt(var)

    def __call__(self, F: torch.Tensor) -> torch.Tensor:
        N = F.shape[0]
        return ((channel_mean(F) - self.mu).pow(2).sum()
                + (channel_deviation(F) - self.sigma).pow(2).sum()) / N


def unit_directions(count: int, N: int, seed: Seed) -> torch.Tensor:
    """`count` directions uniform on the unit sphere of R^N (normalised Gaussian rows), count × N,
    float64."""
    V = torch.randn(count, N, generator=generator(seed), dtype=torch.float64)
    unit: torch.Tensor = V / V.norm(dim=1, keepdim=True)
    return unit


def interpolate(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """np.interp row by row: the piecewise-linear f through (xp, fp) at x, constant beyond the
    ends; xp, fp are K × P with each row of xp increasing, x is K × M."""
    if xp.shape[1] == 1:
        return fp.expand(-1, x.shape[1])
    j = torch.searchsorted(xp, x).clamp(1, xp.shape[1] - 1)
    x0, x1, f0, f1 = xp.gather(1, j - 1), xp.gather(1, j), fp.gather(1, j - 1), fp.gather(1, j)
    t = ((x - x0) / (x1 - x0)).clamp(0.0, 1.0)
    return f0 + t * (f1 - f0)


class SlicedWasserstein:
    """The sliced Wasserstein loss of Heitz et al. (CVPR 2021): over K unit directions v,

        E_l = 1/K Σ_v 1/M_F Σ_m (sort(vᵀF)_m − Q_v((m + ½)/M_F))²,

    Q_v the quantile function of the painting's projections vᵀS: for M_S = M_F exactly
    sort(vᵀS)_m, otherwise the painting's sorted projections (at levels (j + ½)/M_S) interpolated
    linearly at the image's levels (constant beyond the ends). K = N_l directions drawn once from
    the seed (unit_directions), or explicit ones (`directions`, K × N_l unit rows). Several style
    images: Q_v is the mixture's, the paintings' projections sorted together, each a knot at the
    midpoint of its weight b_k/M_k on the cumulative scale (the weighted form of (j + ½)/M_S).

    Heitz et al.'s code draws K = N_l new directions at every evaluation, which L-BFGS-B's line
    search cannot follow (a different f at the same x); it matches unequal sizes only by an integer
    factor, repeating the painting's activations; it sums the layers unweighted. Pass each layer its
    own seed (or one shared torch.Generator) for layers not to share directions."""

    options: tuple[str, ...] = ("seed",)

    def __init__(self, S: Paintings, b: Sequence[float] | None = None, *,
                 seed: Seed = 0, directions: torch.Tensor | None = None) -> None:
        Ss, b = paintings(S, b)
        N = Ss[0].shape[0]
        V = unit_directions(N, N, seed) if directions is None else directions.detach()
        self.directions = V.to(Ss[0])
        projected = torch.cat([self.directions @ S_k for S_k in Ss], dim=1)
        self.sorted, order = projected.sort(dim=1)
        weights = torch.cat([torch.full((S_k.shape[1],), b_k / S_k.shape[1], dtype=torch.float64)
                             for b_k, S_k in zip(b, Ss)]).to(self.sorted.device)[order]
        self.levels = weights.cumsum(dim=1) - weights / 2
        self.size = Ss[0].shape[1] if len(Ss) == 1 else None  # M_S of one painting
        self._targets: dict[int, torch.Tensor] = {}

    def targets(self, M: int) -> torch.Tensor:
        """Q_v((m + ½)/M) for every direction v and m = 0 … M−1, a K × M matrix made once per M."""
        if M == self.size:
            return self.sorted  # the levels coincide: no interpolation, so no rounding
        if M not in self._targets:
            levels = (torch.arange(M, dtype=torch.float64, device=self.levels.device) + 0.5) / M
            levels = levels.expand(self.levels.shape[0], -1).contiguous()
            self._targets[M] = interpolate(levels, self.levels, self.sorted.double()).to(self.sorted)
        return self._targets[M]

    def __call__(self, F: torch.Tensor) -> torch.Tensor:
        projected = (self.directions @ F).sort(dim=1).values
        return (projected - self.targets(F.shape[1])).pow(2).mean()


# the class of each loss named in STYLE_LOSSES (classes, not instances: their `__init__`s differ)
LOSS_CLASSES: dict[str, Any] = {name: globals()[cls] for name, cls in STYLE_LOSSES.items()}
