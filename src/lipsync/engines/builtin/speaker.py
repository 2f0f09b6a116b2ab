"""A per-speaker mapping from speech sounds to this person's own mouth shapes.

When the input video carries its own speech, every frame is a labelled example of how this
speaker's mouth looks while making that sound. A ridge regression from a few frames of
spectral features to the mouth shape, fitted in well under a second, captures the speaker's
habits (how wide they open, how much they spread) in any language, and complements the
English viseme prior. Its cross-validated R² says how much to trust it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTEXT_FRAMES = 2  # frames of audio either side: the mouth anticipates and lingers ~80 ms
_ALPHAS = (1.0, 10.0, 100.0, 1000.0)  # ridge strengths tried (features are standardised)
_FOLDS = 5
MIN_EXAMPLES = 50  # below ~2 s of talking footage the fit says nothing about the speaker


def stack_context(features: np.ndarray, context: int = CONTEXT_FRAMES) -> np.ndarray:
    """float32 (N, D·(2·context+1)): each frame's features with its neighbours' (edges repeat)."""
    n = len(features)
    padded = np.concatenate(
        [np.repeat(features[:1], context, 0), features, np.repeat(features[-1:], context, 0)]
    )
    return np.concatenate([padded[k : k + n] for k in range(2 * context + 1)], axis=1)


@dataclass(frozen=True)
class SpeakerModel:
    """Ridge regression from stacked spectral features to mouth shape columns."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weights: np.ndarray  # (D, C)
    bias: np.ndarray  # (C,)
    r2: np.ndarray  # (C,) cross-validated R² per output column
    alpha: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        """float32 (N, C) mouth shapes for per-frame spectral features (N, D0) (unstacked)."""
        x = (stack_context(features) - self.mean) / self.scale
        return (x @ self.weights + self.bias).astype(np.float32)


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    y_mean = y.mean(0)
    gram = x.T @ x + alpha * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x.T @ (y - y_mean))
    return weights, y_mean


def _cross_validated_r2(x: np.ndarray, y: np.ndarray, folds: list[np.ndarray]) -> np.ndarray:
    """float (A, C): R² per ridge strength of ``_ALPHAS`` and output column, each fold
    predicted by the ridge fitted on the others.

    Every fold's training set is the whole clip less that fold, so its products are the
    whole clip's less the fold's, and one eigendecomposition per fold serves every strength:
    a handful of small matrix products in all. (Refitting from scratch, twenty times, costs
    far more where threaded BLAS shares two busy cores.)
    """
    alphas = np.asarray(_ALPHAS)
    parts = [(x[fold], y[fold]) for fold in folds]
    grams = [xf.T @ xf for xf, _ in parts]
    crosses = [xf.T @ yf for xf, yf in parts]
    gram, cross = sum(grams), sum(crosses)
    x_sum, y_sum = x.sum(0), y.sum(0)
    predictions = np.empty((len(alphas), *y.shape))
    for fold, (xf, yf), gram_f, cross_f in zip(folds, parts, grams, crosses, strict=True):
        count = len(x) - len(fold)
        y_mean = (y_sum - yf.sum(0)) / count
        # Xᵀ(Y - ȳ) over the training frames.
        target = cross - cross_f - np.outer(x_sum - xf.sum(0), y_mean)
        eigenvalues, vectors = np.linalg.eigh(gram - gram_f)
        projected = vectors.T @ target  # (D, C)
        for k, alpha in enumerate(alphas):
            weights = vectors @ (projected / (eigenvalues + alpha)[:, None])
            predictions[k, fold] = xf @ weights + y_mean
    residual = ((y - predictions) ** 2).sum(1)
    total = ((y - y.mean(0)) ** 2).sum(0) + 1e-12
    return np.asarray(1.0 - residual / total)


def fit_speaker_model(features: np.ndarray, shapes: np.ndarray) -> SpeakerModel | None:
    """Fit the mapping on one clip: features (N, D0) per frame, shapes (N, C) (NaN = no face).

    Frames without a face are left out. Contiguous folds (not shuffled) keep neighbouring,
    nearly identical frames out of each other's validation, so R² is honest. Returns None when
    there are too few examples.
    """
    x_all = stack_context(features.astype(np.float64))
    valid = np.isfinite(shapes).all(1) & np.isfinite(x_all).all(1)
    x, y = x_all[valid], shapes[valid].astype(np.float64)
    if len(x) < MIN_EXAMPLES:
        return None
    mean = x.mean(0)
    scale = x.std(0) + 1e-6
    x = (x - mean) / scale
    folds = np.array_split(np.arange(len(x)), _FOLDS)
    r2 = _cross_validated_r2(x, y, folds)
    # Column 0, the opening, matters most; the first of equals wins, as the weakest ridge.
    best = int(np.argmax(r2[:, 0]))
    alpha = _ALPHAS[best]
    weights, bias = _ridge(x, y, alpha)
    return SpeakerModel(mean, scale, weights, bias, r2[best].astype(np.float32), alpha)
