"""The function checks: inputs for a submission's layers and losses, and the truth to judge them by.

:func:`make_probes` draws the inputs (float64, from a seeded generator, away from
the kinks of ReLU, SeLU and the hinge) that the sandboxed runner feeds to the
submission; :func:`judge_probe` compares what came back with the seed's
formulas, written here directly in float64, for the values, and with central
finite differences of those formulas for the gradients. Each component gives
two checks, ``<Name>.forward`` and ``<Name>.backward``. :func:`judge_stability`
is the seed's bonus 3: inputs of magnitude 1e4 must give no NaN, inf or
floating-point warning (the runner turns warnings into errors).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ACTIVATIONS", "COMPONENTS", "LOSSES", "Check", "judge_probe", "judge_stability",
           "make_probes", "make_stability_probes"]

_LAMBDA, _ALPHA, _MARGIN, _GAMMA = 1.0507, 1.67326, 5.0, 2.0
_FOCAL_ALPHA = [0.1 * (k + 1) for k in range(10)]


def _sigmoid(u):
    return np.exp(-np.logaddexp(0.0, -u))


def _log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# The seed's formulas, float64, elementwise f(u) for activations and E(x, t) for losses.
ACTIVATIONS = {
    "Relu": lambda u: np.maximum(0.0, u),
    "Sigmoid": _sigmoid,
    "Selu": lambda u: _LAMBDA * np.where(u > 0, u, _ALPHA * np.expm1(np.minimum(u, 0.0))),
    "Swish": lambda u: u * _sigmoid(u),
    "Gelu": lambda u: 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u**3))),
}
LOSSES = {
    "MSELoss": lambda x, t: float(np.sum((t - x) ** 2) / len(x)),
    "SoftmaxCrossEntropyLoss": lambda x, t: float(-np.sum(t * _log_softmax(x)) / len(x)),
    "HingeLoss": lambda x, t: float(np.sum(
        np.maximum(0.0, _MARGIN - np.sum(x * t, axis=1, keepdims=True) + x) * (1 - t)) / len(x)),
    "FocalLoss": lambda x, t: float(-np.sum(
        (np.array(_FOCAL_ALPHA) * t + (1 - np.array(_FOCAL_ALPHA)) * (1 - t))
        * (1 - np.exp(_log_softmax(x))) ** _GAMMA * t * _log_softmax(x)) / len(x)),
}
_LOSS_KWARGS = {"FocalLoss": {"alpha": _FOCAL_ALPHA, "gamma": _GAMMA}}
COMPONENTS = ("Linear", *ACTIVATIONS, *LOSSES)


class Check(dict):
    """One graded check: ``{"name", "passed", "points", "detail"}`` (points set by the rubric)."""

    def __init__(self, name: str, passed: bool, detail: str = ""):
        super().__init__(name=name, passed=bool(passed), points=0.0, detail=detail)


def _away_from(rng, shape, kinks, gap=0.05, scale=3.0):
    x = rng.uniform(-scale, scale, shape)
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] += np.sign(x[near] - k + 1e-12) * gap
    return x


def _hinge_logits(rng, t):
    """Logits whose margins Δ - x_t + x_k all sit at least 0.05 from the kink at 0."""
    while True:
        x = rng.uniform(-4, 4, t.shape)
        margins = _MARGIN - np.sum(x * t, axis=1, keepdims=True) + x
        if np.all(np.abs(margins[t == 0]) > 0.05):
            return x


def make_probes(rng: np.random.Generator) -> list[dict]:
    """One probe per component, as JSON-ready dicts (the runner's input)."""
    probes = []
    for name in ACTIVATIONS:
        x = _away_from(rng, (4, 7), [0.0])
        probes.append({"id": name, "kind": "activation", "name": name,
                       "x": x.tolist(), "g": rng.standard_normal((4, 7)).tolist()})
    probes.append({"id": "Linear", "kind": "linear", "name": "Linear",
                   "x": rng.standard_normal((4, 5)).tolist(), "W": rng.standard_normal((5, 3)).tolist(),
                   "b": rng.standard_normal(3).tolist(), "g": rng.standard_normal((4, 3)).tolist()})
    for name in LOSSES:
        t = np.eye(10)[rng.integers(0, 10, 6)]
        x = _hinge_logits(rng, t) if name == "HingeLoss" else rng.uniform(-3, 3, (6, 10))
        probes.append({"id": name, "kind": "loss", "name": name, "x": x.tolist(), "t": t.tolist(),
                       "kwargs": _LOSS_KWARGS.get(name, {})})
    return probes


def make_stability_probes() -> list[dict]:
    """Inputs of magnitude up to 1e4 for the activations and the required losses."""
    u = [[-1e4, -1e3, -50.0, -0.5, 0.5, 50.0, 1e3, 1e4]]
    probes = [{"id": name, "kind": "activation", "name": name, "x": u, "g": [[1.0] * 8]}
              for name in ACTIVATIONS]
    x = np.array([[1e4, -1e4, 0.0, 5e3, -5e3, 1.0, 2.0, 3.0, 4.0, 5.0]] * 2)
    x[1] *= -1
    t = np.eye(10)[[1, 0]]  # the true class has logit -1e4: a loss of about 2e4, still finite
    for name in ("SoftmaxCrossEntropyLoss", "HingeLoss", "MSELoss"):
        probes.append({"id": name, "kind": "loss", "name": name, "x": x.tolist(), "t": t.tolist()})
    return probes


def _numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f at every element of x (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def _compare(got, expected, rtol, atol, what) -> str | None:
    """None when ``got`` matches, else one line saying where and by how much it does not."""
    if got is None:
        return f"{what}: no value (an error came first)"
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{what}: not an array of numbers"
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return f"{what}: shape {got.shape}, expected {expected.shape}"
    if not np.all(np.isfinite(got)):
        return f"{what}: contains NaN or inf"
    err = np.abs(got - expected)
    bad = err > atol + rtol * np.abs(expected)
    if not bad.any():
        return None
    i = np.unravel_index(np.argmax(np.where(bad, err, -1)), err.shape)
    where = f" at {list(map(int, i))}" if got.ndim else ""
    return f"{what}: off by {err[i]:.3g}{where} (expected {expected[i]:.6g}, got {got[i]:.6g})"


def _truth(probe: dict) -> dict:
    """The expected outputs of a probe, from the formulas and their finite differences."""
    name, x = probe["name"], np.array(probe["x"], dtype=np.float64)
    if probe["kind"] == "activation":
        # Elementwise, so the central difference of every element at once is the whole Jacobian.
        f, g, h = ACTIVATIONS[name], np.array(probe["g"]), 1e-6
        return {"y": f(x), "gx": g * (f(x + h) - f(x - h)) / (2 * h)}
    if probe["kind"] == "linear":
        w, b, g = (np.array(probe[k]) for k in ("W", "b", "g"))
        return {"y": x @ w + b,
                "gx": _numeric_grad(lambda v: float(np.sum(g * (v @ w + b))), x.copy()),
                "gW": _numeric_grad(lambda v: float(np.sum(g * (x @ v + b))), w.copy()),
                "gb": _numeric_grad(lambda v: float(np.sum(g * (x @ w + v))), b.copy())}
    t = np.array(probe["t"])
    return {"value": LOSSES[name](x, t), "gx": _numeric_grad(lambda v: LOSSES[name](v, t), x.copy())}


def judge_probe(probe: dict, got: dict | None, tol: dict, failure: str | None = None) -> list[Check]:
    """``<Name>.forward`` and ``<Name>.backward`` for one probe's result."""
    name = probe["name"]
    if got is None or not isinstance(got, dict):
        reason = failure or "no result came back from the sandbox"
        return [Check(f"{name}.forward", False, reason), Check(f"{name}.backward", False, reason)]
    truth, error = _truth(probe), got.get("error")
    fwd_key = "value" if probe["kind"] == "loss" else "y"
    fwd = _compare(got.get(fwd_key), truth[fwd_key], tol["forward_rtol"], tol["forward_atol"], "forward")
    if fwd and error and fwd_key not in got:
        fwd = error
    back = [
        _compare(got.get(k), truth[k], tol["backward_rtol"], tol["backward_atol"],
                 {"gx": "gradient w.r.t. the input", "gW": "grad_W", "gb": "grad_b"}[k])
        for k in ("gx", "gW", "gb") if k in truth
    ]
    back = [b for b in back if b]
    if back and error and "gx" not in got:
        back = [error]
    return [Check(f"{name}.forward", fwd is None, fwd or "matches the seed's formula"),
            Check(f"{name}.backward", not back, "; ".join(back) or "matches central finite differences")]


def judge_stability(probes: list[dict], results: dict | None, failure: str | None = None) -> Check:
    """The ``stability`` check: every large-magnitude probe ran without warning and stayed finite."""
    if not isinstance(results, dict):
        return Check("stability", False, failure or "no result came back from the sandbox")
    problems = []
    for probe in probes:
        got = results.get(probe["id"])
        if not isinstance(got, dict):
            problems.append(f"{probe['name']}: no result")
        elif got.get("error"):
            problems.append(f"{probe['name']}: {got['error']}")
        else:
            # Only whether it stays finite and quiet: whether the values are right is the
            # business of the forward and backward checks.
            key = "value" if probe["kind"] == "loss" else "y"
            bad = _finite(got.get(key), "forward") or _finite(got.get("gx"), "backward")
            if bad:
                problems.append(f"{probe['name']}: {bad}")
    detail = "; ".join(problems) or "inputs of magnitude 1e4: no NaN, inf or floating-point warning"
    return Check("stability", not problems, detail)


def _finite(values, what) -> str | None:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{what}: not an array of numbers"
    return None if np.all(np.isfinite(arr)) else f"{what}: contains NaN or inf"
