"""The sympy derivations behind chapters 2 (the ELBO) and 3 (the reparameterization trick).

Every function is pure: it builds its own symbols and returns sympy expressions. Symbols with the
same name and assumptions compare equal in sympy, so expressions from different calls combine.
Functions named ``*_steps`` return the intermediate results of a derivation, in order, so a chapter
can show it one step at a time with prose in between; the function without the suffix returns only
the result. Every log-density, KL divergence and ELBO here is in nats.

Symbol names (as the chapters print them): ``mu``, ``sigma`` for a Gaussian's mean and standard
deviation; ``ell`` (printed as ℓ) for a log-variance, the ``logvar`` of the code; ``epsilon`` for a
standard normal draw; ``a, b, s`` for the linear-Gaussian model x | z ~ N(a z + b, s^2); ``m, v``
for the mean and variance of its approximate posterior q(z) = N(m, v).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import sympy as sp

from ._validation import integer

if TYPE_CHECKING:
    from IPython.display import Math

__all__ = [
    "equation",
    "normal_log_pdf",
    "gaussian_expectation",
    "jensen_steps",
    "elbo_identity_steps",
    "elbo_identity_discrete_residual",
    "gaussian_kl_univariate_steps",
    "gaussian_kl_univariate",
    "gaussian_kl_standard_normal",
    "DiagonalKL",
    "gaussian_kl_diagonal_steps",
    "gaussian_kl_diagonal",
    "LinearGaussian",
    "linear_gaussian_model",
    "elbo_identity_residual",
    "optimal_q",
    "exact_gradient",
    "gradient_estimators",
    "estimator_moments",
]

Steps = dict[str, sp.Expr]


def _real(names: str):
    return sp.symbols(names, real=True)


def _positive(names: str):
    return sp.symbols(names, positive=True)


def equation(lhs: str, *rhs: sp.Expr | str) -> Math:
    """Display ``lhs = rhs_1 = rhs_2 ...`` in a notebook (an IPython ``Math`` object).

    Args:
        lhs: LaTeX for the left-hand side, e.g. ``r"\\mathrm{KL}(q \\| p)"``.
        rhs: sympy expressions (printed with ``sympy.latex``) or LaTeX strings.
    """
    from IPython.display import Math  # imported here: the rest of the module needs no IPython

    return Math(" = ".join([lhs, *(r if isinstance(r, str) else sp.latex(r) for r in rhs)]))


def normal_log_pdf(x: sp.Expr, mean: sp.Expr, std: sp.Expr) -> sp.Expr:
    """log N(x; mean, std^2), in nats."""
    return -sp.log(2 * sp.pi) / 2 - sp.log(std) - (x - mean) ** 2 / (2 * std**2)


def gaussian_expectation(expr: sp.Expr, var: sp.Symbol, mean: sp.Expr, std: sp.Expr) -> sp.Expr:
    """E[expr] for ``var`` ~ N(mean, std^2), by integration.

    The integral is taken after the change of variable ``var = mean + std * t``, t ~ N(0, 1): the
    density then has no parameters, and for a polynomial in ``var`` every term is a standard
    Gaussian moment, which sympy integrates at once. Other integrands are passed to sympy as they are.

    Args:
        expr: the integrand, an expression in ``var``.
        var: the random variable.
        mean, std: the Gaussian's mean and standard deviation (std must be positive).

    Returns:
        The expectation, unsimplified.
    """
    t = sp.Symbol("t", real=True)
    standardized = sp.expand(expr.subs(var, mean + std * t))
    density = sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)
    if standardized.is_polynomial(t):
        # Integrate t^k against the density once per power k, then combine: much faster than
        # handing sympy one large integrand whose coefficients carry every other symbol.
        terms = sp.Poly(standardized, t).terms()
        return sp.Add(*(coeff * sp.integrate(t**k * density, (t, -sp.oo, sp.oo))
                        for (k,), coeff in terms))
    return sp.integrate(standardized * density, (t, -sp.oo, sp.oo))


# ---------------------------------------------------------------------------------------------
# Chapter 2: two derivations of the ELBO
# ---------------------------------------------------------------------------------------------


def jensen_steps() -> Steps:
    """Jensen's inequality for the logarithm, on a two-point distribution.

    With w = p(x, z) / q(z), log p(x) = log E_q[w] and the ELBO is E_q[log w]. The steps show that
    log is concave, that the gap log E[w] - E[log w] is zero when w takes a single value, and that
    its derivative has the sign of (w2 - w1), so the gap is smallest, and zero, at w1 = w2.

    Returns:
        ``second_derivative`` (of log w), ``gap`` (for q(z1) = q, q(z2) = 1 - q),
        ``gap_at_equal_weights`` (0) and ``gap_slope`` (d gap / d w2, factored).
    """
    w, w1, w2 = _positive("w w_1 w_2")
    q = sp.Symbol("q", positive=True)  # the probability of the first of two latent values
    gap = sp.log(q * w1 + (1 - q) * w2) - (q * sp.log(w1) + (1 - q) * sp.log(w2))
    return {
        "second_derivative": sp.diff(sp.log(w), w, 2),
        "gap": gap,
        "gap_at_equal_weights": sp.simplify(gap.subs(w2, w1)),
        "gap_slope": sp.factor(sp.diff(gap, w2)),
    }


def elbo_identity_steps() -> Steps:
    """The identity log p(x) = ELBO(q) + KL(q || p(z|x)), point by point in z.

    Uses only the product rule p(x, z) = p(z|x) p(x). The pointwise residual
    ``log(p(x,z)/q(z)) - [log p(x) - log(q(z)/p(z|x))]`` expands to zero for every z, so its
    expectation under q is zero as well (E_q of the constant log p(x) is log p(x)).

    Returns:
        ``elbo_integrand`` log(p(x,z)/q(z)), ``rewritten`` log p(x) - log(q(z)/p(z|x)) and
        ``residual`` (their difference after expanding the logarithms: 0).
    """
    x, z = _real("x z")
    q, post = sp.Function("q", positive=True), sp.Function(r"p_{z\mid x}", positive=True)
    p_x = sp.Function("p", positive=True)(x)
    joint = post(z) * p_x  # product rule: p(x, z) = p(z | x) p(x)
    elbo_integrand = sp.log(joint / q(z))
    rewritten = sp.log(p_x) - sp.log(q(z) / post(z))
    residual = sp.expand_log(elbo_integrand - rewritten, force=True)
    return {"elbo_integrand": elbo_integrand, "rewritten": rewritten, "residual": sp.simplify(residual)}


def elbo_identity_discrete_residual(k: int = 3) -> sp.Expr:
    """log p(x) - ELBO(q) - KL(q || p(z|x)) for a latent with ``k`` values, any model, any q.

    The joint probabilities p(x, z=j) are free positive symbols ``p_j``; q is any distribution
    on the k values (``q_k = 1 - q_1 - ... - q_{k-1}``). The result simplifies to 0.
    """
    k = integer("k", k, at_least=2, advice="It is the number of latent values.")
    p = sp.symbols(f"p_1:{k + 1}", positive=True)
    q_free = sp.symbols(f"q_1:{k}", positive=True)
    q = (*q_free, 1 - sum(q_free))
    evidence = sum(p)  # p(x) = sum_j p(x, z=j)
    elbo = sum(qj * (sp.log(pj) - sp.log(qj)) for qj, pj in zip(q, p, strict=True))
    kl = sum(qj * (sp.log(qj) - (sp.log(pj) - sp.log(evidence))) for qj, pj in zip(q, p, strict=True))
    return sp.simplify(sp.expand(sp.log(evidence) - elbo - kl))


# ---------------------------------------------------------------------------------------------
# Chapter 2: the Gaussian KL divergence
# ---------------------------------------------------------------------------------------------


def gaussian_kl_univariate_steps() -> Steps:
    """KL(N(mu_1, sigma_1^2) || N(mu_2, sigma_2^2)), derived by integration.

    Returns:
        ``log_ratio`` log q(z) - log p(z), a quadratic in z; ``integral`` the unevaluated KL
        integral; ``evaluated`` sympy's value of it; ``closed_form`` the textbook arrangement
        log(sigma_2/sigma_1) + (sigma_1^2 + (mu_1 - mu_2)^2) / (2 sigma_2^2) - 1/2; and
        ``residual`` evaluated - closed_form, simplified (0).
    """
    z = sp.Symbol("z", real=True)
    mu1, mu2 = _real("mu_1 mu_2")
    s1, s2 = _positive("sigma_1 sigma_2")
    log_ratio = sp.expand(normal_log_pdf(z, mu1, s1) - normal_log_pdf(z, mu2, s2))
    q_density = sp.exp(normal_log_pdf(z, mu1, s1))
    integral = sp.Integral(q_density * log_ratio, (z, -sp.oo, sp.oo))
    evaluated = sp.simplify(gaussian_expectation(log_ratio, z, mu1, s1))
    closed = sp.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - sp.Rational(1, 2)
    residual = sp.simplify(sp.expand_log(evaluated - closed, force=True))
    return {"log_ratio": log_ratio, "integral": integral, "evaluated": evaluated,
            "closed_form": closed, "residual": residual}


def gaussian_kl_univariate() -> sp.Expr:
    """KL(N(mu_1, sigma_1^2) || N(mu_2, sigma_2^2)) in nats, in the symbols mu_1, sigma_1, mu_2, sigma_2."""
    steps = gaussian_kl_univariate_steps()
    if steps["residual"] != 0:  # the closed form must be what the integral gives
        raise AssertionError(f"closed form and integral differ by {steps['residual']}")
    return steps["closed_form"]


def gaussian_kl_standard_normal(parameterization: str = "logvar") -> sp.Expr:
    """KL(N(mu, sigma^2) || N(0, 1)) in nats: the formula of every VAE implementation.

    Args:
        parameterization: ``"logvar"`` for the expression in ``mu`` and ``ell`` = log sigma^2,
            (mu^2 + exp(ell) - 1 - ell) / 2; ``"sigma"`` for the expression in ``mu`` and ``sigma``.
    """
    mu1, mu2 = _real("mu_1 mu_2")
    s1, s2 = _positive("sigma_1 sigma_2")
    mu, ell = _real("mu ell")
    sigma = sp.Symbol("sigma", positive=True)
    kl = gaussian_kl_univariate().subs({mu2: 0, s2: 1}).subs({mu1: mu, s1: sigma})
    if parameterization == "sigma":
        return sp.expand(sp.expand_log(kl, force=True))
    if parameterization == "logvar":
        return sp.expand(sp.expand_log(kl.subs(sigma, sp.exp(ell / 2)), force=True))
    raise ValueError(f"parameterization must be 'logvar' or 'sigma', got {parameterization!r}.")


class DiagonalKL(NamedTuple):
    """KL(N(mu, diag exp(ell)) || N(0, I)) for a fixed dimension: the expression and its symbols."""

    expr: sp.Expr
    mu: tuple[sp.Symbol, ...]
    ell: tuple[sp.Symbol, ...]


def gaussian_kl_diagonal_steps(d: int = 2) -> Steps:
    """The KL of a diagonal Gaussian to N(0, I) is the sum of the per-dimension KLs.

    For ``d`` dimensions, the log-ratio of the two product densities is a sum of one term per
    dimension; integrating it against q dimension by dimension gives the sum of univariate KLs.

    Returns:
        ``log_ratio`` (expanded: one group of terms per dimension), ``evaluated`` (the d-fold
        integral), ``per_dim_sum`` (sum of :func:`gaussian_kl_standard_normal` terms), ``residual``
        (their difference, 0) and ``general`` (the formula for any D as a sympy ``Sum``).
    """
    d = integer("d", d, at_least=1, advice="It is the number of latent dimensions.")
    z = sp.symbols(f"z_1:{d + 1}", real=True)
    mu = sp.symbols(f"mu_1:{d + 1}", real=True)
    ell = sp.symbols(f"ell_1:{d + 1}", real=True)
    std = [sp.exp(e / 2) for e in ell]
    log_q = sum(normal_log_pdf(zi, mi, si) for zi, mi, si in zip(z, mu, std, strict=True))
    log_p = sum(normal_log_pdf(zi, 0, 1) for zi in z)
    log_ratio = sp.expand(sp.expand_log(log_q - log_p, force=True))
    evaluated = log_ratio
    for zi, mi, si in zip(z, mu, std, strict=True):  # integrate out one coordinate at a time
        evaluated = gaussian_expectation(evaluated, zi, mi, si)
    evaluated = sp.expand(sp.simplify(evaluated))
    kl1 = gaussian_kl_standard_normal("logvar")
    mu_s, ell_s = _real("mu ell")
    per_dim_sum = sum(kl1.subs({mu_s: mi, ell_s: ei}) for mi, ei in zip(mu, ell, strict=True))
    i, big_d = sp.Symbol("i", integer=True, positive=True), sp.Symbol("D", integer=True, positive=True)
    mu_i, ell_i = sp.IndexedBase("mu")[i], sp.IndexedBase("ell")[i]
    general = sp.Sum(kl1.subs({mu_s: mu_i, ell_s: ell_i}), (i, 1, big_d))
    return {"log_ratio": log_ratio, "evaluated": evaluated, "per_dim_sum": per_dim_sum,
            "residual": sp.simplify(evaluated - per_dim_sum), "general": general}


def gaussian_kl_diagonal(d: int) -> DiagonalKL:
    """KL(N(mu, diag exp(ell)) || N(0, I)) for ``d`` dimensions, in nats.

    Returns:
        :class:`DiagonalKL` with the expression and its symbols ``mu_1..mu_d``, ``ell_1..ell_d``,
        ready for ``sympy.lambdify((mu, ell), expr)``.
    """
    d = integer("d", d, at_least=1, advice="It is the number of latent dimensions.")
    mu = sp.symbols(f"mu_1:{d + 1}", real=True)
    ell = sp.symbols(f"ell_1:{d + 1}", real=True)
    mu_s, ell_s = _real("mu ell")
    kl1 = gaussian_kl_standard_normal("logvar")
    expr = sum(kl1.subs({mu_s: mi, ell_s: ei}) for mi, ei in zip(mu, ell, strict=True))
    return DiagonalKL(expr, tuple(mu), tuple(ell))


# ---------------------------------------------------------------------------------------------
# Chapter 2: the linear-Gaussian model, where everything is closed form
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearGaussian:
    """z ~ N(0, 1), x | z ~ N(a z + b, s^2), and a Gaussian q(z) = N(m, v).

    Attributes:
        x, z, a, b, s, m, v: the symbols (``s`` and ``v`` positive).
        log_joint: log p(x, z).
        precision, shift: log p(x, z) = -precision/2 z^2 + shift z + (terms without z).
        gaussian_integral: the integral of exp(-A z^2 / 2 + B z) over z, in symbols A and B.
        marginal_from_integral: log p(x) as the integral gives it, before tidying.
        log_marginal: log p(x) = log N(x; b, a^2 + s^2), checked equal to the integral.
        posterior_mean, posterior_var: p(z | x) = N(posterior_mean, posterior_var).
        elbo: ELBO(q) = E_q[log p(x, z)] - E_q[log q(z)], by integration.
        kl_to_posterior: KL(q || p(z | x)), from :func:`gaussian_kl_univariate`.
    """

    x: sp.Symbol
    z: sp.Symbol
    a: sp.Symbol
    b: sp.Symbol
    s: sp.Symbol
    m: sp.Symbol
    v: sp.Symbol
    log_joint: sp.Expr
    precision: sp.Expr
    shift: sp.Expr
    gaussian_integral: sp.Expr
    marginal_from_integral: sp.Expr
    log_marginal: sp.Expr
    posterior_mean: sp.Expr
    posterior_var: sp.Expr
    elbo: sp.Expr
    kl_to_posterior: sp.Expr


def linear_gaussian_model() -> LinearGaussian:
    """Build the linear-Gaussian model and derive its marginal, posterior and ELBO.

    The log-joint is a quadratic in z. Reading off its coefficients (completing the square) gives
    the posterior; integrating exp(log-joint) over z gives the marginal; integrating the log-ratio
    against q gives the ELBO. See :class:`LinearGaussian` for what is returned.
    """
    x, z, a, b = _real("x z a b")
    s = sp.Symbol("s", positive=True)
    m, v = sp.Symbol("m", real=True), sp.Symbol("v", positive=True)
    log_joint = normal_log_pdf(z, 0, 1) + normal_log_pdf(x, a * z + b, s)
    poly = sp.Poly(sp.expand(log_joint), z)
    precision = sp.simplify(-2 * poly.coeff_monomial(z**2))
    shift = sp.simplify(poly.coeff_monomial(z))
    rest = poly.coeff_monomial(1)
    # Integrate exp(-A z^2 / 2 + B z) with A > 0 as a symbol, then put the coefficients back in.
    big_a, big_b = sp.Symbol("A", positive=True), sp.Symbol("B", real=True)
    gauss_integral = sp.simplify(sp.integrate(sp.exp(-big_a * z**2 / 2 + big_b * z), (z, -sp.oo, sp.oo)))
    from_integral = rest + sp.log(gauss_integral.subs({big_a: precision, big_b: shift}))
    log_marginal = normal_log_pdf(x, b, sp.sqrt(a**2 + s**2))  # the textbook form
    if sp.simplify(sp.expand_log(from_integral - log_marginal, force=True)) != 0:
        raise AssertionError("the integral over z does not give log N(x; b, a^2 + s^2)")
    posterior_mean = sp.simplify(shift / precision)
    posterior_var = sp.simplify(1 / precision)
    elbo = gaussian_expectation(log_joint - normal_log_pdf(z, m, sp.sqrt(v)), z, m, sp.sqrt(v))
    elbo = sp.expand(sp.expand_log(elbo, force=True))
    mu1, mu2 = _real("mu_1 mu_2")
    s1, s2 = _positive("sigma_1 sigma_2")
    kl = gaussian_kl_univariate().subs(
        {mu1: m, s1: sp.sqrt(v), mu2: posterior_mean, s2: sp.sqrt(posterior_var)})
    return LinearGaussian(x=x, z=z, a=a, b=b, s=s, m=m, v=v, log_joint=log_joint,
                          precision=precision, shift=shift, gaussian_integral=gauss_integral,
                          marginal_from_integral=from_integral, log_marginal=log_marginal,
                          posterior_mean=posterior_mean, posterior_var=posterior_var,
                          elbo=elbo, kl_to_posterior=kl)


def elbo_identity_residual(model: LinearGaussian | None = None) -> sp.Expr:
    """log p(x) - ELBO(q) - KL(q || p(z|x)) in the linear-Gaussian model, simplified (0)."""
    model = model if model is not None else linear_gaussian_model()
    residual = model.log_marginal - model.elbo - model.kl_to_posterior
    return sp.simplify(sp.expand_log(residual, force=True))


def optimal_q(model: LinearGaussian | None = None) -> dict[sp.Symbol, sp.Expr]:
    """The (m, v) where the gradient of the ELBO vanishes: ``{m: ..., v: ...}``.

    Raises:
        AssertionError: the stationary point is not unique.
    """
    model = model if model is not None else linear_gaussian_model()
    gradient = [sp.diff(model.elbo, model.m), sp.diff(model.elbo, model.v)]
    solutions = sp.solve(gradient, [model.m, model.v], dict=True)
    if len(solutions) != 1:
        raise AssertionError(f"expected one stationary point, found {solutions}")
    return {k: sp.simplify(val) for k, val in solutions[0].items()}


# ---------------------------------------------------------------------------------------------
# Chapter 3: gradients of an expectation
# ---------------------------------------------------------------------------------------------


def exact_gradient(f: Callable[[sp.Expr], sp.Expr]) -> Steps:
    """E_q[f(z)] for q = N(mu, exp(ell)) and its exact gradient, by integration.

    Args:
        f: a function that maps a sympy expression to one, e.g. ``lambda z: (z - 3)**2``. The
            expectation must exist in closed form (polynomials always work).

    Returns:
        ``expectation`` E_q[f(z)] in ``mu`` and ``ell`` (= log-variance), ``grad_mu`` and
        ``grad_ell`` its partial derivatives.
    """
    z = sp.Symbol("z", real=True)
    mu, ell = _real("mu ell")
    expectation = sp.simplify(gaussian_expectation(f(z), z, mu, sp.exp(ell / 2)))
    return {"expectation": expectation,
            "grad_mu": sp.simplify(sp.diff(expectation, mu)),
            "grad_ell": sp.simplify(sp.diff(expectation, ell))}


def gradient_estimators(f: Callable[[sp.Expr], sp.Expr]) -> Steps:
    """The one-sample score-function and pathwise gradient estimators, written out.

    With z = mu + exp(ell/2) * epsilon, epsilon ~ N(0, 1):

    - score function (REINFORCE): f(z) * d/dtheta log q(z), the derivative taken at fixed z;
    - pathwise (reparameterized): d/dtheta f(mu + exp(ell/2) * epsilon) at fixed epsilon.

    Returns:
        ``score_mu``, ``score_ell``, ``pathwise_mu``, ``pathwise_ell``: expressions in
        ``epsilon``, ``mu`` and ``ell``.
    """
    z, eps = _real("z epsilon")
    mu, ell = _real("mu ell")
    sigma = sp.exp(ell / 2)
    sample = mu + sigma * eps
    log_q = normal_log_pdf(z, mu, sigma)
    out = {}
    for name, theta in (("mu", mu), ("ell", ell)):
        out[f"score_{name}"] = sp.simplify((f(z) * sp.diff(log_q, theta)).subs(z, sample))
        out[f"pathwise_{name}"] = sp.simplify(sp.diff(f(sample), theta))
    return out


def estimator_moments(f: Callable[[sp.Expr], sp.Expr]) -> Steps:
    """Mean and variance of each one-sample estimator of :func:`gradient_estimators`.

    Both estimators are unbiased, so each ``mean_*`` equals the matching exact gradient of
    :func:`exact_gradient`; the ``var_*`` entries are the variances of one sample (divide by N
    for the average of N samples).

    Returns:
        ``mean_<estimator>_<param>`` and ``var_<estimator>_<param>`` for estimator in
        (score, pathwise) and param in (mu, ell).
    """
    eps = sp.Symbol("epsilon", real=True)
    out = {}
    for name, est in gradient_estimators(f).items():
        mean = sp.simplify(gaussian_expectation(est, eps, 0, 1))
        second = gaussian_expectation(sp.expand(est**2), eps, 0, 1)
        out[f"mean_{name}"] = mean
        out[f"var_{name}"] = sp.simplify(second - mean**2)
    return out
