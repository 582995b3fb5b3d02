"""L-BFGS-B on torch tensors, iterate for iterate the algorithm scipy.optimize.minimize(
method="L-BFGS-B") runs: Byrd, Lu, Nocedal & Zhu (1995), "A limited memory algorithm for bound
constrained optimization" (BLNZ), in version 3.0 of its code (Morales & Nocedal 2011), which
scipy >= 1.15 ships translated to C (scipy/optimize/__lbfgsb.c; written against scipy 1.17.1).

Every vector stays on the device of x0, in float64; only scalars (the Cauchy point's and the line
search's decisions) come to the host. One iteration (`iterate`) is the code's mainlb loop:

  take the last step into the memory    matupd, formt      BLNZ §3, eqs. 3.2–3.5
  the generalized Cauchy point x^c      cauchy             BLNZ §4
  the subspace minimisation from x^c    freev, formk,      BLNZ §5.1, and the 3.0 code's
                                        cmprlb, subsm      projection (Morales & Nocedal §2)
  the line search along d = z − x       lnsrlb, dcsrch     Moré & Thuente (1994)

The limited-memory matrix is B = θI − W M Wᵀ with W = [Y, θS] (BLNZ eq. 3.2); here W̃ᵀv stands
for [Yv; θSv], as the code forms W's products with a vector v. Products over all variables
are summed by BLAS in its own order, so iterates differ from scipy's by rounding (about 1e-15
relative in f after 100 iterations on the tests' problems); the Cauchy point's running sums,
whose order decides t* where nearly every breakpoint is passed, are summed in the code's order
(on the CPU: torch's cumsum on CUDA is a parallel scan).
"""
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from reproduce.optim.minimiser import MAXCOR, Callback, Fun, Minimum, NonFiniteLoss

EPS = 2.220446049250313e-16     # the code's epsmach, np.finfo(float).eps
MAX_LINE_SEARCH = 20            # maxls: evaluations in one line search
SUFFICIENT_DECREASE = 1e-3      # lnsrlb's ftol
CURVATURE = 0.9                 # lnsrlb's gtol
XTOL = 0.1                      # lnsrlb's xtol: relative width of the bracket that ends the search
EXTRAPOLATE_MIN, EXTRAPOLATE_MAX = 1.1, 4.0  # dcsrch's xtrapl, xtrapu
UNBOUNDED_STEP = 1e10           # lnsrlb's stpmax where no bound limits the step
BREAKPOINT_BLOCK = 1 << 17      # entries of the (2col × breakpoints) matrices held at once in cauchy
CACHE_CHUNK = 1 << 14           # variables per block in a pass over S and Y on the CPU

CONVERGED_GRADIENT = "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"
CONVERGED_F = "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH"
ITERATION_LIMIT = "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT"
EVALUATION_LIMIT = "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT"
ABNORMAL = "ABNORMAL: "         # scipy's message for a line search that fails with no pairs to drop


@dataclass(frozen=True)
class Box:
    """The bounds low ≤ x ≤ high (±inf: none), and what the code derives from its nbd once."""
    low: torch.Tensor
    high: torch.Tensor
    n_fixed: int            # variables with low = high (the code's iwhere 3), never free
    constrained: bool       # cnstnd: some variable has a bound
    boxed: bool             # every variable has both bounds

    @classmethod
    def of(cls, bounds: "Box | tuple[torch.Tensor, torch.Tensor]") -> "Box":
        """A Box from (low, high) tensors (or a Box, returned as it is)."""
        if isinstance(bounds, Box):
            return bounds
        low, high = bounds
        if bool((low > high).any()):
            raise ValueError("L-BFGS-B: a lower bound is greater than its upper bound")
        has_low, has_high = torch.isfinite(low), torch.isfinite(high)
        n_fixed = int((has_low & has_high & (high - low <= 0)).sum())
        return cls(low, high, n_fixed, constrained=bool((has_low | has_high).any()),
                   boxed=bool((has_low & has_high).all()))


@dataclass
class Step:
    """The last iteration's step, which the code takes into the memory at the top of the next
    iteration, after the stop tests (mainlb's 777–888): s = stp·d, y = g_new − g_old, and the
    scalars the code keeps from its line search rather than recomputing them."""
    s: torch.Tensor
    y: torch.Tensor
    sy: float       # dr = (gᵀd − g_oldᵀd)·stp, the code's sᵀy
    ss: float       # stp²·‖d‖², the code's sᵀs
    yy: float       # rr = ‖y‖²
    descent: float  # ddum = −g_oldᵀd·stp, for the test that skips the update
    f_old: float    # f before the step, for the test on the relative reduction of f

    @classmethod
    def between(cls, x_old: torch.Tensor, f_old: float, g_old: torch.Tensor, x: torch.Tensor,
                g: torch.Tensor) -> "Step":
        """The step from (x_old, f_old, g_old) to (x, g), its scalars computed from s and y
        (to start from another run's iterates, e.g. scipy's)."""
        s, y = x - x_old, g - g_old
        return cls(s, y, sy=float(s @ y), ss=float(s @ s), yy=float(y @ y),
                   descent=-float(g_old @ s), f_old=float(f_old))


class Memory:
    """The limited-memory BFGS matrix B = θI − W M Wᵀ, W = [Y, θS] (BLNZ §3, eq. 3.2): at most m
    pairs (s, y), oldest first; the code's SᵀY and SᵀS (matupd: their lower and upper triangles,
    each entry taken when its newer pair came) and M (formt, bmv); and formk's Gram matrices of
    Y and S over the variables free (Z) and active (A) at the last Cauchy point, updated as
    formk updates them, by the variables entering and leaving the free set.

    S and Y live in a ring of m rows, so that a new pair overwrites the oldest and nothing of
    size m·n moves; `order` lists the rows oldest first. Updated in place."""

    def __init__(self, n: int, m: int, device: torch.device) -> None:
        self.n, self.m, self.device = n, m, device
        # (m, n), made with the first pair
        self.s_rows = self.y_rows = torch.empty(0, n, dtype=torch.float64, device=device)
        self.free = torch.ones(n, dtype=torch.float64, device=device)  # 1 on Z, 0 on A
        self.moved_active = torch.zeros(0, dtype=torch.long, device=device)
        self.refresh()

    def refresh(self) -> None:
        """Forget every pair (the code's restart: col = 0, θ = 1)."""
        self.slots: list[int] = []        # rows of the pairs, oldest first
        self.order = torch.zeros(0, dtype=torch.long, device=self.device)
        self.theta = 1.0
        empty = torch.zeros(0, 0, dtype=torch.float64, device=self.device)
        self.sy = self.ss = empty         # the code's sy (lower, diagonal) and ss (upper, diagonal)
        self.yy_free = self.sy_free = self.ss_active = self.sy_active = empty  # formk's wn1
        self.middle = empty               # M (2col × 2col)

    @property
    def col(self) -> int:
        """The number of pairs (the code's col)."""
        return len(self.slots)

    @classmethod
    def from_pairs(cls, S: torch.Tensor, Y: torch.Tensor, m: int = MAXCOR) -> "Memory":
        """The memory of the pairs S, Y ((pairs, n), oldest first), θ from the newest."""
        memory = cls(S.shape[1], m, S.device)
        for s, y in zip(S, Y):
            memory.update(Step(s, y, sy=float(s @ y), ss=float(s @ s), yy=float(y @ y),
                               descent=0.0, f_old=0.0))
        if memory.col < len(S):
            raise ValueError("these pairs do not make a positive definite B")
        return memory

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(S, Y), each (col, n), oldest first (copies)."""
        if not self.col:
            empty = torch.zeros(0, self.n, dtype=torch.float64, device=self.device)
            return empty, empty
        return self.s_rows[self.order], self.y_rows[self.order]

    def products(self, vectors: list[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]
                 ) -> torch.Tensor:
        """[Yv, Sv] (one row of 2col per n-vector v, oldest pair first) for `vectors`, each an
        n-vector or a pair (v, w) standing for v·w elementwise, in one pass over S and Y: on the
        CPU block by block, so that each block of S and Y is read from memory once for all the
        vectors (S and Y are the optimiser's largest arrays, 2·m·n)."""
        col = self.col
        out = torch.zeros(len(vectors), 2 * col, dtype=torch.float64, device=self.device)
        if not col:
            return out
        Y, S = self.y_rows[:col], self.s_rows[:col]
        block = self.n if Y.is_cuda else CACHE_CHUNK
        V = torch.empty(len(vectors), min(block, self.n), dtype=torch.float64, device=self.device)
        for a in range(0, self.n, block):
            b = min(a + block, self.n)
            for row, v in zip(V, vectors):
                if isinstance(v, tuple):
                    torch.mul(v[0][a:b], v[1][a:b], out=row[:b - a])
                else:
                    row[:b - a] = v[a:b]
            out[:, :col].addmm_(V[:, :b - a], Y[:, a:b].T)
            out[:, col:].addmm_(V[:, :b - a], S[:, a:b].T)
        return out[:, torch.cat([self.order, col + self.order])]

    def combination(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Yᵀa + Sᵀb (an n-vector) for coefficients a, b of the pairs, oldest first."""
        in_rows = torch.empty_like(a), torch.empty_like(b)
        in_rows[0][self.order], in_rows[1][self.order] = a, b
        out = torch.mv(self.y_rows[:self.col].T, in_rows[0])
        return out.addmv_(self.s_rows[:self.col].T, in_rows[1])

    def columns(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Y and S at the variables `index`: two (col, len(index)) matrices."""
        rows = self.order[:, None]
        return self.y_rows[rows, index], self.s_rows[rows, index]

    def update(self, step: "Step", d: torch.Tensor | None = None) -> torch.Tensor | None:
        """matupd then formt: take the pair (s, y) of `step` (dropping the oldest beyond m), θ =
        yᵀy / sᵀy, the new row of SᵀY and column of SᵀS, formk's new rows over Z and A, and M; a
        T that is not positive definite refreshes the memory. Returns cauchy's W̃ᵀd for the
        direction d, taken in the same pass over S and Y as the new pair's products."""
        if not len(self.y_rows):
            self.s_rows = torch.empty(self.m, self.n, dtype=torch.float64, device=self.device)
            self.y_rows = torch.empty_like(self.s_rows)
        keep = slice(1, None) if self.col == self.m else slice(None)
        slot = self.slots.pop(0) if self.col == self.m else self.col
        self.s_rows[slot], self.y_rows[slot] = step.s, step.y
        self.slots.append(slot)
        self.order = torch.tensor(self.slots, device=self.device)
        col = self.col
        vectors: list[torch.Tensor | tuple[torch.Tensor, torch.Tensor]] = [step.s, (step.y, self.free)]
        if d is not None:
            vectors.append(d)
        p_s, p_y_free, *p_d = self.products(vectors)
        # s is 0 on A but where the step passed a breakpoint: its products over A from those only
        Y_moved, S_moved = self.columns(self.moved_active)
        s_moved = step.s[self.moved_active]
        p_s_active = torch.cat([Y_moved @ s_moved, S_moved @ s_moved])
        self.sy = _grown(self.sy[keep, keep], row=p_s[:col], column=torch.zeros_like(p_s[:col]))
        self.ss = _grown(self.ss[keep, keep], row=torch.zeros_like(p_s[:col]), column=p_s[col:])
        self.sy[-1, -1], self.ss[-1, -1] = step.sy, step.ss
        self.yy_free = _grown(self.yy_free[keep, keep], p_y_free[:col], p_y_free[:col])
        self.ss_active = _grown(self.ss_active[keep, keep], p_s_active[col:], p_s_active[col:])
        self.sy_free = _grown(self.sy_free[keep, keep], p_s[:col] - p_s_active[:col], p_y_free[col:])
        self.sy_active = _grown(self.sy_active[keep, keep], p_s_active[:col],
                                torch.zeros_like(p_s[:col]))  # its upper triangle is not used
        self.theta = step.yy / step.sy
        middle = middle_matrix(self)
        if middle is None:
            self.refresh()
        else:
            self.middle = middle
        return None if d is None else self.scaled(p_d[0])

    def scaled(self, product: torch.Tensor) -> torch.Tensor:
        """W̃ᵀv = [Yv; θSv] from [Yv, Sv]."""
        return torch.cat([product[:self.col], self.theta * product[self.col:]])

    def move(self, free: torch.Tensor, moved_active: torch.Tensor) -> None:
        """Take the free set Z of a new Cauchy point (1.0 on Z, 0.0 on A) into formk's Gram
        matrices, adding and removing the variables that entered and left it (formk, with
        freev's lists), and the variables of A that the coming step moves (the breakpoints
        passed)."""
        changed = (free != self.free).nonzero().squeeze(1)
        if self.col and len(changed):
            Y, S = self.columns(changed)
            sign = 2.0 * free[changed] - 1.0  # +1 entering Z, −1 leaving it
            self.yy_free = self.yy_free + (Y * sign) @ Y.T
            self.sy_free = self.sy_free + (S * sign) @ Y.T
            self.ss_active = self.ss_active - (S * sign) @ S.T
            self.sy_active = self.sy_active - (S * sign) @ Y.T
        self.free, self.moved_active = free, moved_active

    def free_gram(self) -> torch.Tensor:
        """[Y; S][Y; S]ᵀ over Z: formk's blocks and SᵀZZᵀS = SᵀS − SᵀAAᵀS."""
        ss = torch.triu(self.ss, 1)
        ss_free = ss + ss.T + torch.diag(torch.diagonal(self.ss)) - self.ss_active
        return torch.cat([torch.cat([self.yy_free, self.sy_free.T], 1),
                          torch.cat([self.sy_free, ss_free], 1)])


def _grown(matrix: torch.Tensor, row: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
    """`matrix` with a last row and column added (their shared corner from `row`)."""
    matrix = torch.cat([matrix, column[:-1, None]], 1)
    return torch.cat([matrix, row[None, :]])


def middle_matrix(memory: Memory) -> torch.Tensor | None:
    """M, the 2col × 2col middle matrix of B = θI − W M Wᵀ (BLNZ eq. 3.4):
    M⁻¹ = [[−D, Lᵀ], [L, θSᵀS]], applied as the code's bmv applies it, through the Cholesky
    factor J of T = θSᵀS + L D⁻¹ Lᵀ (formt; BLNZ eq. 3.5 ff.). None if T is not positive
    definite."""
    col, theta = memory.col, memory.theta
    D = torch.diagonal(memory.sy)
    L = torch.tril(memory.sy, -1)                    # s_iᵀy_j, i > j
    SS = torch.triu(memory.ss, 1)
    SS = SS + SS.T + torch.diag(torch.diagonal(memory.ss))
    J, info = torch.linalg.cholesky_ex(theta * SS + (L / D) @ L.T)
    if int(info):
        return None
    V = torch.eye(2 * col, dtype=torch.float64, device=memory.device)
    V1, V2 = V[:col], V[col:]
    # [D^½ 0; −L D^-½ J] [P1; P2] = [V1; V2], then [−D^½ D^-½Lᵀ; 0 Jᵀ] [P1; P2] = [P1; P2]
    P2 = torch.linalg.solve_triangular(J, V2 + L @ (V1 / D[:, None]), upper=False)
    P2 = torch.linalg.solve_triangular(J.T, P2, upper=True)
    root = D.sqrt()[:, None]
    P1 = -(V1 / root) / root + (L.T @ P2) / D[:, None]
    return torch.cat([P1, P2])


@dataclass
class Path:
    """The projected steepest-descent path x(t) = P(x − t g) (BLNZ eq. 4.1; cauchy's setup)."""
    d: torch.Tensor        # −g where the variable moves, 0 where a bound holds it
    moves: torch.Tensor    # 1.0 where it moves (the code's iwhere ≤ 0), 0.0 where a bound holds it
    t: torch.Tensor        # the breakpoint t_i where x_i(t) meets its bound (BLNZ eq. 4.2)
    breaks: torch.Tensor   # moves, towards a bound: t_i is finite
    to_low: torch.Tensor   # x − l (inf without a lower bound)
    to_high: torch.Tensor  # x − u (−inf without an upper bound)
    count: int             # the number of breakpoints
    moving: int            # the number of moving variables
    bounded: bool          # every moving variable moves towards a bound (cauchy's bnded)


def projected_gradient_path(x: torch.Tensor, g: torch.Tensor, box: Box) -> "Path":
    """Path of x, g in box: the breakpoints t_i = (x_i − l_i)/g_i for g_i > 0, (x_i − u_i)/g_i
    for g_i < 0 (BLNZ eq. 4.2; cauchy's loop 50), and which variables move.

    Without a comparison per case: the larger of (x_i − l_i)/g_i and (x_i − u_i)/g_i is the
    breakpoint (the other is ≤ 0), inf without a bound. It is 0 for a variable at the bound the
    gradient pushes against, or fixed, and nan for one at a bound with g_i = 0: the code holds
    those (iwhere 1, 2, 3), and every other variable moves, with t_i > 0."""
    to_low, to_high = x - box.low, x - box.high
    t = to_low / g
    torch.maximum(t, to_high / g, out=t)
    moving = t > 0
    moves = moving.to(torch.float64)
    breaks = moving & (t < math.inf)
    count, n_moving = torch.stack([breaks.sum(), moving.sum()]).tolist()
    bounded = box.boxed or not bool((moving & ~breaks & (g != 0)).any())
    return Path(g.mul(moves).neg_(), moves, t, breaks, to_low, to_high, int(count), int(n_moving),
                bounded)


def projected_gradient_norm(path: "Path", g: torch.Tensor) -> float:
    """max_i |proj g_i| (projgr): |min(x_i − l_i, g_i)| where g_i ≥ 0, |max(x_i − u_i, g_i)|
    where g_i < 0; the other of the two is −|g_i| or less."""
    low_side = torch.minimum(path.to_low, g)
    high_side = torch.maximum(path.to_high, g).neg_()
    return float(torch.maximum(low_side, high_side, out=low_side).max())


@dataclass
class CauchyPoint:
    """The generalized Cauchy point x^c and what the subspace minimisation takes from it."""
    x: torch.Tensor       # x^c
    free: torch.Tensor    # 1.0 on the variables free at x^c (iwhere ≤ 0: the subspace's Z), else 0.0
    n_free: int           # |Z|
    passed: torch.Tensor  # the breakpoints passed: variables set to a bound at x^c
    c: torch.Tensor       # W̃ᵀ(x^c − x) (BLNZ eq. 4.8)
    p: torch.Tensor       # W̃ᵀd over the variables still moving at x^c
    t: float              # t*: x^c = x + t*·d on those variables


@dataclass
class _Segment:
    """The quadratic model along the path from the last breakpoint passed (BLNZ eqs. 4.5–4.9)."""
    t: float            # t_{j−1}, the last breakpoint passed
    t_sum: float        # the same, summed from the segments' lengths as the code sums them
    f1: float           # f'_j, the slope at t_{j−1}
    f2: float           # f''_j, the curvature (kept above EPS times its first value)
    dt_min: float       # Δt* = −f'/f'', the model's minimiser beyond t_{j−1}
    p: torch.Tensor     # W̃ᵀd over the variables still moving
    c: torch.Tensor     # W̃ᵀ(x(t_{j−1}) − x)


def generalized_cauchy_point(x: torch.Tensor, path: "Path", box: Box, memory: Memory,
                             p: torch.Tensor) -> "CauchyPoint":
    """x^c, the first local minimiser of the quadratic model m(x) = gᵀ(x − x_k)
    + ½(x − x_k)ᵀB(x − x_k) along the projected steepest-descent path (BLNZ §4, cauchy).

    The breakpoints are visited in increasing order, segment by segment as the code does, but in
    sorted chunks whose slopes and curvatures are cumulative sums (`_pass_breakpoints`); the
    chunks hold only the breakpoints before the current segment's minimiser, t + Δt*."""
    theta = memory.theta
    no_breakpoint = torch.zeros(0, dtype=torch.long, device=x.device)
    f1 = -float((path.d * path.d).cumsum_(0)[-1])          # f' = −dᵀd (eq. 4.5), summed in order
    if f1 == 0:
        return CauchyPoint(x, path.moves, path.moving, no_breakpoint, torch.zeros_like(p), p, 0.0)
    f2 = f2_first = -theta * f1                            # f'' = θdᵀd − dᵀW M Wᵀd (eq. 4.6)
    if memory.col:
        f2 -= float(p @ (memory.middle @ p))
    segment = _Segment(0.0, 0.0, f1, f2, -f1 / f2 if f2 else math.inf, p, torch.zeros_like(p))
    remaining, left, passed_chunks = path.breaks.clone(), path.count, [no_breakpoint]
    while left:
        reach = (segment.t + max(segment.dt_min, 0.0)) * (1 + 1e-12)  # a margin over rounding
        candidates = (remaining & (path.t <= reach)).nonzero().squeeze(1)
        if not len(candidates):
            break  # the next breakpoint lies beyond this segment's minimiser
        # sorted by t, ties by index (the code's heap may order ties otherwise)
        candidates = candidates[torch.sort(path.t[candidates], stable=True).indices]
        stopped = False
        for chunk in torch.split(candidates, BREAKPOINT_BLOCK // max(1, 2 * memory.col)):
            while len(chunk) and not stopped:
                k, stopped = _pass_breakpoints(chunk, x, path, box, memory, segment, EPS * f2_first)
                remaining[chunk[:k]] = False
                passed_chunks.append(chunk[:k])
                left -= k
                chunk = chunk[k:]
        if stopped:
            break
    if path.count and not left:  # all passed: the code stops at the last if all variables meet a bound
        segment.dt_min = 0.0 if path.bounded else -segment.f1 / segment.f2
    dt_min = max(segment.dt_min, 0.0)
    t_star = segment.t_sum + dt_min
    passed = torch.cat(passed_chunks)
    xcp = path.d.index_fill(0, passed, 0.0).mul_(t_star).add_(x)
    xcp[passed] = torch.where(path.d[passed] > 0, box.high[passed], box.low[passed])
    free = path.moves.index_fill(0, passed, 0.0)
    return CauchyPoint(xcp, free, path.moving - len(passed), passed,
                       segment.c + dt_min * segment.p, segment.p, t_star)


def _first(mask: torch.Tensor) -> int:
    """The index of the first True in a 1-d mask, or its length."""
    return int(mask.to(torch.int8).argmax()) if bool(mask.any()) else len(mask)


def _running_sums(start: float, terms: torch.Tensor) -> torch.Tensor:
    """start plus the rows of `terms` (K × j), added one term at a time from left to right as the
    code adds them: the value after each row. The order matters: where x^c passes nearly every
    breakpoint, f' and f'' end as small differences of large sums and their rounding decides
    t* (torch's cumsum adds in order on the CPU; on CUDA it does not)."""
    flat = torch.cat([terms.new_tensor([start]), terms.reshape(-1)])
    return flat.cumsum(0)[terms.shape[1]::terms.shape[1]]


def _pass_breakpoints(chunk: torch.Tensor, x: torch.Tensor, path: "Path", box: Box, memory: Memory,
                      segment: "_Segment", f2_floor: float) -> tuple[int, bool]:
    """Pass the breakpoints `chunk` (sorted) while the model decreases up to each, updating
    `segment` as the code's loop updates f', f'', p and c at each (BLNZ eqs. 4.9–4.11, with the
    code's floor on f''). Returns how many were passed and whether the minimiser was found."""
    theta, K = memory.theta, len(chunk)
    tb, db = path.t[chunk], path.d[chunk]
    dt = torch.diff(tb, prepend=tb.new_tensor([segment.t]))
    zb = torch.where(db > 0, box.high[chunk], box.low[chunk]) - x[chunk]
    d2 = db * db
    wmc = wmp = wmw = torch.zeros_like(db)
    if memory.col:
        Y, S = memory.columns(chunk)
        wb = torch.cat([Y, theta * S])                    # w_b, the rows of W at b
        vb = memory.middle @ wb
        p_after = torch.cat([segment.p[:, None], -wb * db], 1).cumsum(1)
        p_before = p_after[:, :-1]
        c_after = torch.cat([segment.c[:, None], p_before * dt], 1).cumsum(1)[:, 1:]
        wmc, wmp, wmw = ((c_after * vb).sum(0), (p_before * vb).sum(0), (wb * vb).sum(0))
    # f'' −= θd² − 2d wᵀMp + d² wᵀMw, floored at every breakpoint: the sums hold up to the first floor
    f2_seq = _running_sums(segment.f2, torch.stack([-theta * d2, db * 2.0 * wmp, -(d2 * wmw)], 1))
    K = min(K, _first(f2_seq < f2_floor) + 1)
    f2_seq = f2_seq[:K]
    f2_seq[-1] = f2_seq[-1].clamp_min(f2_floor)
    f2_before = torch.cat([f2_seq.new_tensor([segment.f2]), f2_seq[:-1]])
    # f' += Δt f'' + d² − θ d z + d wᵀM c
    f1_seq = _running_sums(segment.f1, torch.stack(
        [dt[:K] * f2_before, d2[:K], -(theta * db[:K] * zb[:K]), db[:K] * wmc[:K]], 1))
    dt_min_seq = -f1_seq / f2_seq
    dt_min_before = torch.cat([dt_min_seq.new_tensor([segment.dt_min]), dt_min_seq[:-1]])
    k = _first(dt_min_before < dt[:K])   # the minimiser lies before breakpoint k
    if k:
        t_sum = _running_sums(segment.t_sum, dt[:k, None])[-1]
        values = torch.stack([tb[k - 1], t_sum, f1_seq[k - 1], f2_seq[k - 1], dt_min_seq[k - 1]])
        segment.t, segment.t_sum, segment.f1, segment.f2, segment.dt_min = values.tolist()
        if memory.col:
            segment.p, segment.c = p_after[:, k], c_after[:, k - 1]
    return k, k < K


def formk(memory: Memory) -> torch.Tensor | None:
    """The LELᵀ factorization of K = [[−D − YᵀZZᵀY/θ, L_aᵀ − R_zᵀ], [L_a − R_z, θSᵀAAᵀS]]
    (BLNZ §5.1, eq. 5.11; formk), Z the free and A the active variables at x^c, L_a the strict
    lower triangle of SᵀAAᵀY and R_z the upper triangle of SᵀZZᵀY: the upper triangular
    [[U11, U12], [0, U22]] with K = Lᵀ E L, E = diag(−I, I). None if K is not so factorizable."""
    theta = memory.theta
    U11, info = torch.linalg.cholesky_ex(torch.diag(torch.diagonal(memory.sy)) + memory.yy_free / theta,
                                         upper=True)
    if int(info):
        return None
    B12 = (torch.triu(memory.sy_free) - torch.tril(memory.sy_active, -1)).T
    U12 = torch.linalg.solve_triangular(U11.T, B12, upper=False)
    U22, info = torch.linalg.cholesky_ex(theta * memory.ss_active + U12.T @ U12, upper=True)
    if int(info):
        return None
    return torch.cat([torch.cat([U11, U12], 1), torch.cat([torch.zeros_like(U12), U22], 1)])


def solve_k(factor: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """K⁻¹v from formk's factor (subsm's two triangular solves)."""
    col = len(v) // 2
    w = torch.linalg.solve_triangular(factor.T, v[:, None], upper=False)
    w[:col] = -w[:col]
    solution: torch.Tensor = torch.linalg.solve_triangular(factor, w, upper=True)[:, 0]
    return solution


def subspace_minimisation(x: torch.Tensor, g: torch.Tensor, box: Box, memory: Memory,
                          cp: "CauchyPoint") -> torch.Tensor | None:
    """z, the minimiser of the model over the variables free at x^c (BLNZ §5.1): the Newton step
    from x^c, then the 3.0 code's projection. None if K is singular."""
    du = subspace_step(x, g, memory, cp)
    return None if du is None else projected_subspace_step(x, g, box, cp, du)


def subspace_step(x: torch.Tensor, g: torch.Tensor, memory: Memory,
                  cp: "CauchyPoint") -> torch.Tensor | None:
    """du = −(ZᵀBZ)⁻¹ r on the free variables Z (0 elsewhere), r = Zᵀ(g + B(x^c − x)) the
    reduced gradient at x^c (BLNZ §5.1, eqs. 5.4–5.11, the direct primal method; cmprlb, subsm),
    by the Sherman–Morrison–Woodbury form through formk's K. None if K is singular."""
    theta, col = memory.theta, memory.col
    factor = formk(memory)
    if factor is None:
        return None
    Mc = memory.middle @ cp.c
    scale = torch.cat([torch.ones(col, dtype=torch.float64, device=memory.device),
                       torch.full((col,), theta, dtype=torch.float64, device=memory.device)])
    # subsm's W̃_Z r for cmprlb's r = r0 + W̃_Zᵀ M c, r0 = −g − θ(x^c − x) on Z: there r0 = (1 − θt*)d,
    # so W̃_Z r0 = (1 − θt*) p and needs no pass over S and Y
    wv = (1 - theta * cp.t) * cp.p + (scale[:, None] * memory.free_gram() * scale) @ Mc
    u = Mc + solve_k(factor, wv) / theta
    r = torch.sub(cp.x, x).mul_(-theta).sub_(g).add_(memory.combination(u[:col], theta * u[col:]))
    return r.mul_(1.0 / theta).mul_(cp.free)


def projected_subspace_step(x: torch.Tensor, g: torch.Tensor, box: Box, cp: "CauchyPoint",
                            du: torch.Tensor) -> torch.Tensor:
    """The end of subsm (L-BFGS-B 3.0, Morales & Nocedal 2011 §2): x^c + du projected into the
    box; if a free variable ends at a bound and the projected point is no descent direction
    from x, the step back along du from x^c to the first bound instead."""
    z = torch.add(cp.x, du).clamp_(box.low, box.high)
    # every active variable sits at a bound (held there, or set to it at x^c): any more is a free one
    at_bound = int((z == box.low).sum() + (z == box.high).sum()) - box.n_fixed
    if at_bound == box.low.numel() - cp.n_free or float((z - x) @ g) <= 0:
        return z
    ratio = _largest_steps(cp.x, du, box).clamp_min(0.0)
    first = int(torch.argmin(ratio))
    alpha = min(1.0, float(ratio[first]))
    if alpha == 1.0:
        return cp.x + du
    bound = box.high[first] if float(du[first]) > 0 else box.low[first]
    z = cp.x + alpha * du.index_fill(0, torch.tensor([first], device=du.device), 0.0)
    z[first] = bound
    return z


def _largest_steps(x: torch.Tensor, d: torch.Tensor, box: Box) -> torch.Tensor:
    """For each variable the step α at which x + αd meets a bound, inf if never (d_i = 0 or no
    bound that way): the larger of (l − x)/d and (u − x)/d, the other being ≤ 0."""
    return torch.maximum((box.low - x).div_(d), (box.high - x).div_(d)).nan_to_num_(nan=math.inf)


def maximum_step(x: torch.Tensor, d: torch.Tensor, box: Box, iteration: int) -> float:
    """lnsrlb's stpmax: the longest step along d within the box (1 in the first iteration of a
    constrained problem, 1e10 without bounds)."""
    if not box.constrained:
        return UNBOUNDED_STEP
    if iteration == 0:
        return 1.0
    smallest = float(_largest_steps(x, d, box).min())
    return 0.0 if smallest <= 0 else min(UNBOUNDED_STEP, smallest)


class MoreThuente:
    """The line search of Moré & Thuente (1994) for the strong Wolfe conditions
    f(stp) ≤ f(0) + ftol·stp·f'(0), |f'(stp)| ≤ gtol·|f'(0)|, as MINPACK-2's dcsrch, with
    lnsrlb's constants. `step(f, g)` takes f and f' at `stp` and says "FG" (evaluate at the new
    `stp`), "CONVERGENCE" or "WARNING" (both end the search at the current stp)."""

    def __init__(self, f: float, g: float, stp: float, stpmax: Callable[[], float],
                 stpmin: float = 0.0, ftol: float = SUFFICIENT_DECREASE, gtol: float = CURVATURE,
                 xtol: float = XTOL) -> None:
        """From f, f' at 0 and the first trial stp; `stpmax` is a function giving the largest step,
        called when the search first needs it (the first trial mostly ends the search, and
        lnsrlb's stpmax costs a pass over the variables)."""
        self.ftol, self.gtol, self.xtol = ftol, gtol, xtol
        self.error = stp < stpmin or g >= 0
        self.stp, self.stpmin, self._stpmax = stp, stpmin, stpmax
        self.stp_first, self.stpmax = stp, math.inf  # stpmax: _stpmax() once first needed
        self.stpmax_known = False
        self.brackt, self.stage = False, 1
        self.finit, self.ginit, self.gtest = f, g, ftol * g
        self.stx, self.fx, self.gx = 0.0, f, g
        self.sty, self.fy, self.gy = 0.0, f, g
        self.stmin, self.stmax = 0.0, stp + EXTRAPOLATE_MAX * stp

    def step(self, f: float, g: float) -> str:
        """One call of dcsrch after the first: "ERROR" where the code's first call would have
        found the first trial beyond stpmax."""
        stp = self.stp
        ftest = self.finit + stp * self.gtest
        if self.stage == 1 and f <= ftest and g >= 0:
            self.stage = 2
        if f <= ftest and abs(g) <= self.gtol * -self.ginit:
            return "CONVERGENCE"  # (whatever warning the code found first)
        if not self.stpmax_known:
            self.stpmax, self.stpmax_known = self._stpmax(), True
            if self.stp_first > self.stpmax or self.stpmax < self.stpmin:
                return "ERROR"
            self.width = self.stpmax - self.stpmin
            self.width1 = self.width / 0.5
        task = "FG"
        if self.brackt and (stp <= self.stmin or stp >= self.stmax):
            task = "WARNING"  # rounding errors prevent progress
        if self.brackt and self.stmax - self.stmin <= self.xtol * self.stmax:
            task = "WARNING"  # xtol test satisfied
        if stp == self.stpmax and f <= ftest and g <= self.gtest:
            task = "WARNING"  # stp = stpmax
        if stp == self.stpmin and (f > ftest or g >= self.gtest):
            task = "WARNING"  # stp = stpmin
        if task != "FG":
            return task
        if self.stage == 1 and f <= self.fx and f > ftest:
            # the modified function ψ(stp) = f(stp) − f(0) − ftol·stp·f'(0) until it has a
            # nonpositive value and a nonnegative derivative
            gtest = self.gtest
            stx, fxm, gxm, sty, fym, gym, stp, self.brackt = dcstep(
                self.stx, self.fx - self.stx * gtest, self.gx - gtest,
                self.sty, self.fy - self.sty * gtest, self.gy - gtest,
                stp, f - stp * gtest, g - gtest, self.brackt, self.stmin, self.stmax)
            self.stx, self.sty = stx, sty
            self.fx, self.fy = fxm + stx * gtest, fym + sty * gtest
            self.gx, self.gy = gxm + gtest, gym + gtest
        else:
            (self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp, self.brackt) = dcstep(
                self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp, f, g,
                self.brackt, self.stmin, self.stmax)
        if self.brackt:  # bisect when the bracket does not shrink fast enough
            if abs(self.sty - self.stx) >= 0.66 * self.width1:
                stp = self.stx + 0.5 * (self.sty - self.stx)
            self.width1, self.width = self.width, abs(self.sty - self.stx)
            self.stmin, self.stmax = min(self.stx, self.sty), max(self.stx, self.sty)
        else:
            self.stmin = stp + EXTRAPOLATE_MIN * (stp - self.stx)
            self.stmax = stp + EXTRAPOLATE_MAX * (stp - self.stx)
        stp = min(max(stp, self.stpmin), self.stpmax)
        if self.brackt and (stp <= self.stmin or stp >= self.stmax
                            or self.stmax - self.stmin <= self.xtol * self.stmax):
            stp = self.stx  # no progress possible: the best step so far
        self.stp = float(stp)
        return "FG"


def dcstep(stx: float, fx: float, dx: float, sty: float, fy: float, dy: float, stp: float,
           fp: float, dp: float, brackt: bool, stpmin: float, stpmax: float
           ) -> tuple[float, float, float, float, float, float, float, bool]:
    """MINPACK-2's dcstep: the safeguarded cubic/quadratic step of Moré & Thuente (1994, §4) and
    the new interval of uncertainty [stx, sty]. Returns (stx, fx, dx, sty, fy, dy, stp, brackt).
    In numpy scalars, so that divisions by zero give C's inf and nan."""
    stx, fx, dx, sty, fy, dy, stp, fp, dp = map(np.float64, (stx, fx, dx, sty, fy, dy, stp, fp, dp))
    with np.errstate(all="ignore"):
        sgnd = dp * (dx / abs(dx))
        if fp > fx:  # 1: higher function value; the minimum is bracketed
            theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
            s = max(abs(theta), abs(dx), abs(dp))
            gamma = s * np.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
            if stp < stx:
                gamma = -gamma
            p = (gamma - dx) + theta
            q = ((gamma - dx) + gamma) + dp
            stpc = stx + (p / q) * (stp - stx)
            stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
            stpf = stpc if abs(stpc - stx) < abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
            brackt = True
        elif sgnd < 0.0:  # 2: derivatives of opposite sign; bracketed
            theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
            s = max(abs(theta), abs(dx), abs(dp))
            gamma = s * np.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
            if stp > stx:
                gamma = -gamma
            p = (gamma - dp) + theta
            q = ((gamma - dp) + gamma) + dx
            stpc = stp + (p / q) * (stx - stp)
            stpq = stp + (dp / (dp - dx)) * (stx - stp)
            stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
            brackt = True
        elif abs(dp) < abs(dx):  # 3: the derivative decreases in magnitude
            theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
            s = max(abs(theta), abs(dx), abs(dp))
            gamma = s * np.sqrt(max(0.0, (theta / s) ** 2 - (dx / s) * (dp / s)))
            if stp > stx:
                gamma = -gamma
            p = (gamma - dp) + theta
            q = (gamma + (dx - dp)) + gamma
            r = p / q
            if r < 0.0 and gamma != 0.0:
                stpc = stp + r * (stx - stp)
            else:
                stpc = stpmax if stp > stx else stpmin
            stpq = stp + (dp / (dp - dx)) * (stx - stp)
            if brackt:
                stpf = stpc if abs(stpc - stp) < abs(stpq - stp) else stpq
                if stp > stx:
                    stpf = min(stp + 0.66 * (sty - stp), stpf)
                else:
                    stpf = max(stp + 0.66 * (sty - stp), stpf)
            else:
                stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
                stpf = max(stpmin, min(stpmax, stpf))
        elif brackt:  # 4: the derivative does not decrease; step to the cubic's minimiser in [stp, sty]
            theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
            s = max(abs(theta), abs(dy), abs(dp))
            gamma = s * np.sqrt((theta / s) ** 2 - (dy / s) * (dp / s))
            if stp > sty:
                gamma = -gamma
            p = (gamma - dp) + theta
            q = ((gamma - dp) + gamma) + dy
            stpf = stp + (p / q) * (sty - stp)
        else:
            stpf = stpmax if stp > stx else stpmin
    if fp > fx:
        sty, fy, dy = stp, fp, dp
    else:
        if sgnd < 0.0:
            sty, fy, dy = stx, fx, dx
        stx, fx, dx = stp, fp, dp
    return (float(stx), float(fx), float(dx), float(sty), float(fy), float(dy), float(stpf),
            brackt)


@dataclass
class _Evaluated:
    """The point fun was last called at, which scipy's ScalarFunction does not evaluate again."""
    x: torch.Tensor
    f: float
    g: torch.Tensor


def evaluate(fun: Fun, x: torch.Tensor, iteration: int) -> tuple[float, torch.Tensor]:
    """(f as a float, g) at x; NonFiniteLoss if either is not finite."""
    value, g = fun(x)
    f = float(value)
    # a sum is finite if every term is (or it overflows: then look at each)
    if not (math.isfinite(f) and (math.isfinite(float(g.sum())) or bool(torch.isfinite(g).all()))):
        raise NonFiniteLoss(f, iteration)
    return f, g


@dataclass
class _Search:
    """A line search's outcome: the new point (None if it failed) and what it cost."""
    x: torch.Tensor | None
    f: float
    g: torch.Tensor
    step: Step | None
    evaluations: int
    last: _Evaluated


def line_search(fun: Fun, state: "State", d: torch.Tensor, z: torch.Tensor, box: Box,
                last: _Evaluated) -> _Search:
    """lnsrlb: Moré–Thuente along d = z − x from x, starting at stp = 1 (x + d = z), or in the
    first iteration of a problem not boxed at min(1/‖d‖, stpmax); trial points outside the box
    are projected into it. Fails on an ascent direction, or when a 21st evaluation would be
    needed, or when the first trial lies beyond stpmax (where the code's search would run on
    stale values; rounding alone could bring that about)."""
    x, f, g = state.x, state.f, state.g
    dnorm = float(torch.linalg.vector_norm(d))
    stp = 1.0
    if state.iteration == 0 and not box.boxed:
        stp = min(1.0 / dnorm, maximum_step(x, d, box, 0))
    gd_old = float(g @ d)
    failed = _Search(None, f, g, None, 0, last)
    if gd_old >= 0:
        return failed
    search = MoreThuente(f, gd_old, stp, lambda: maximum_step(x, d, box, state.iteration))
    if search.error:
        return failed
    for _ in range(MAX_LINE_SEARCH):
        stp = search.stp
        x_t = z if stp == 1.0 else (stp * d).add_(x).clamp_(box.low, box.high)
        if not torch.equal(x_t, last.x):
            last = _Evaluated(x_t, *evaluate(fun, x_t, state.iteration + 1))
            failed.evaluations += 1
        gd = float(last.g @ d)
        task = search.step(last.f, gd)
        if task == "ERROR":
            break
        if task != "FG":
            s = d if stp == 1.0 else stp * d
            y = last.g - g
            step = Step(s, y, sy=(gd - gd_old) * stp, ss=stp * stp * dnorm ** 2,
                        yy=float(torch.linalg.vector_norm(y)) ** 2, descent=-gd_old * stp, f_old=f)
            return _Search(x_t, last.f, last.g, step, failed.evaluations, last)
    failed.last = last
    return failed


@dataclass
class State:
    """Where L-BFGS-B stands between two iterations: the iterate, the memory (in place, shared
    with the states that follow), and the step of the last iteration, not yet in the memory."""
    x: torch.Tensor
    f: float
    g: torch.Tensor
    memory: Memory
    iteration: int = 0      # the code's iter: the first iteration's step is special
    evaluations: int = 1    # calls of fun, counted as scipy's nfev counts them
    step: Step | None = None
    path: Path | None = field(default=None, repr=False)  # at x, once needed (stop test, iteration)

    @property
    def S(self) -> torch.Tensor:
        """The s of the pairs in the memory, (pairs, n), oldest first."""
        return self.memory.pairs()[0]

    @property
    def Y(self) -> torch.Tensor:
        """The y of the pairs in the memory, (pairs, n), oldest first."""
        return self.memory.pairs()[1]

    @property
    def theta(self) -> float:
        """θ of B = θI − W M Wᵀ."""
        return self.memory.theta


def path_at(state: State, box: Box) -> "Path":
    """The projected-gradient path at the state's x (made once: the stop test needs it too)."""
    if state.path is None:
        state.path = projected_gradient_path(state.x, state.g, box)
    return state.path


class Abnormal(Exception):
    """The line search failed with no curvature pairs to drop (scipy's "ABNORMAL" stop)."""

    def __init__(self, state: State) -> None:
        super().__init__(ABNORMAL)
        self.state = state


def start(fun: Fun, x0: torch.Tensor, bounds: "Box | tuple[torch.Tensor, torch.Tensor]",
          maxcor: int = MAXCOR) -> State:
    """The State at x0 projected into the bounds, with f and g evaluated there."""
    box = Box.of(bounds)
    x = torch.clamp(x0, box.low, box.high)
    f, g = evaluate(fun, x, 1)
    return State(x, f, g, Memory(x.numel(), maxcor, x.device))


def iterate(fun: Fun, state: State, bounds: "Box | tuple[torch.Tensor, torch.Tensor]") -> State:
    """One iteration of L-BFGS-B (mainlb's loop): the last step into the memory unless the code
    skips it (sᵀy ≤ ε·(−g_oldᵀs)), the generalized Cauchy point, the subspace minimisation, the
    line search. A failed line search drops the memory and starts over from the Cauchy point;
    raises Abnormal when there was no memory to drop. The memory is updated in place."""
    box = Box.of(bounds)
    memory, x, f, g = state.memory, state.x, state.f, state.g
    path = path_at(state, box)
    step = state.step
    if step is not None and step.sy > EPS * step.descent:
        p = memory.update(step, path.d)
        assert p is not None  # a direction was given
    else:
        p = memory.scaled(memory.products([path.d])[0])
    last, evaluations = _Evaluated(x, f, g), state.evaluations
    while True:
        if memory.col and not box.constrained:  # mainlb takes no Cauchy point without bounds
            no_breakpoint = torch.zeros(0, dtype=torch.long, device=x.device)
            cp = CauchyPoint(x, path.moves, x.numel(), no_breakpoint, torch.zeros_like(p), p, 0.0)
        else:
            cp = generalized_cauchy_point(x, path, box, memory, p)
        memory.move(cp.free, cp.passed)
        z: torch.Tensor | None = cp.x
        if memory.col and cp.n_free:
            z = subspace_minimisation(x, g, box, memory, cp)
        if z is not None:
            search = line_search(fun, state, z - x, z, box, last)
            evaluations += search.evaluations
            last = search.last
            if search.x is not None:
                return State(search.x, search.f, search.g, memory, state.iteration + 1, evaluations,
                             search.step)
            if not memory.col:
                raise Abnormal(State(x, f, g, memory, state.iteration + 1, evaluations))
        memory.refresh()
        p = p[:0]


def converged(state: State, box: Box, pgtol: float, tol: float) -> str | None:
    """mainlb's stop tests after an iteration (and, before the first, the gradient's): the
    message of the one met, or None."""
    if projected_gradient_norm(path_at(state, box), state.g) <= pgtol:
        return CONVERGED_GRADIENT
    if state.step is not None:
        f_old, f = state.step.f_old, state.f
        if f_old - f <= tol * max(abs(f_old), abs(f), 1.0):
            return CONVERGED_F
    return None


def lbfgsb(fun: Fun, x0: torch.Tensor, bounds: "Box | tuple[torch.Tensor, torch.Tensor]",
           iterations: int, callback: Callback | None = None, *, maxcor: int = MAXCOR,
           ftol: float = 0.0, gtol: float = 0.0, maxfun: int | None = None
           ) -> tuple[torch.Tensor, float, int, str]:
    """Minimise `fun(x) -> (f, g)` (f a 0-d float64 tensor, g a float64 tensor like x) over
    low ≤ x ≤ high from x0, bounds = (low, high) flat float64 tensors on x0's device, for at most
    `iterations` iterations, as scipy.optimize.minimize(method="L-BFGS-B", jac=True, options=
    dict(maxcor, ftol, gtol, maxiter=iterations, maxfun)) does. maxfun None means
    max(15000, 20·iterations).

    `callback(x, f)` (f a float) runs after every iteration. Returns (x, f, iterations done,
    scipy's stop message). NonFiniteLoss when f or g is not finite; KeyboardInterrupt from fun
    or callback propagates."""
    box = Box.of(bounds)
    maxfun = max(15000, 20 * iterations) if maxfun is None else maxfun
    tol = ftol / np.finfo(float).eps * EPS   # factr·epsmch, as scipy passes ftol
    state = start(fun, x0, box, maxcor)
    if projected_gradient_norm(path_at(state, box), state.g) <= gtol:
        return state.x, state.f, 0, CONVERGED_GRADIENT
    done = 0
    while True:
        try:
            state = iterate(fun, state, box)
        except Abnormal as failure:
            return failure.state.x, failure.state.f, done, ABNORMAL
        done += 1
        if callback is not None:
            callback(state.x, state.f)
        if done >= iterations:
            return state.x, state.f, done, ITERATION_LIMIT
        if state.evaluations > maxfun:
            return state.x, state.f, done, EVALUATION_LIMIT
        message = converged(state, box, gtol, tol)
        if message:
            return state.x, state.f, done, message


def minimise(fun: Fun, x0: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor],
             iterations: int, callback: Callback | None = None) -> Minimum:
    """`lbfgsb` with the authors' settings (maxcor 20, ftol = gtol = 0: stop by the iteration
    count alone), as reproduce.optim.minimiser's optimisers are called."""
    return Minimum(*lbfgsb(fun, x0, bounds, iterations, callback))
