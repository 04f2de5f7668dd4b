"""A site's own head (issue 13): a linear multi-label head (+ a toxicity threshold) over the shared, frozen
encoder's mean-pooled embedding, trained on the site's moderator decisions plus a sample of the base data.

Why this form (the limits: one worker serves every site, each extra site costs <= 20 MB and <= 10% throughput,
a site's model loads without restarting the worker): the encoder runs once per batch whatever the mix of sites
and each site's head is one [6 x 384] matrix product on the pooled vectors of its comments: 9.2 KB of weights,
no measurable cost (``bench/bench_feedback.py`` prints both). Merged weights per site would cost the whole encoder
(~470 MB fp32) per site; unmerged LoRA factors (rank 16 on every linear layer, ~2.4 M parameters, ~9.5 MB) fit the
memory limit but need one encoder pass per site in a batch, so a batch mixing sites costs a multiple of the
encoder. Training is cheap too: one forward pass per example (embeddings), then a few hundred full-batch steps.

Training (``train_head``): starts from the model's own head; masked binary cross-entropy (a rejection without a
category trains only ``toxicity``), site examples weighted so that they count as much as the base sample in
total, plus an L2 pull towards the starting head so the categories the site never labels keep their meaning.
Weights are stored as safetensors bytes (never pickle).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .metrics import f1_curve


@dataclass
class HeadConfig:
    steps: int = 300
    lr: float = 0.05
    weight_decay_to_start: float = 1e-3  # L2 pull towards the model's own head
    site_share: float = 0.5  # total weight of the site's examples vs the base sample (0.5 = equal)
    seed: int = 13


@dataclass
class SiteHead:
    weight: torch.Tensor  # [n_labels, hidden]
    bias: torch.Tensor  # [n_labels]
    threshold: float
    name: str = ""
    version: str = ""
    model_id: int | None = None
    extra: dict = field(default_factory=dict)

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        return pooled @ self.weight.t().to(pooled.dtype) + self.bias.to(pooled.dtype)

    def to_bytes(self) -> bytes:
        from safetensors.torch import save

        return save({"weight": self.weight.float().contiguous(), "bias": self.bias.float().contiguous()},
                    metadata={"threshold": f"{self.threshold:.4f}", "kind": "head"})

    @classmethod
    def from_bytes(cls, blob: bytes, threshold: float, name: str = "", version: str = "",
                   model_id: int | None = None) -> "SiteHead":
        from safetensors.torch import load

        tensors = load(bytes(blob))
        return cls(tensors["weight"].float(), tensors["bias"].float(), float(threshold), name, version, model_id)


def train_head(X: np.ndarray, Y: np.ndarray, is_site: np.ndarray, start: dict[str, torch.Tensor],
               cfg: HeadConfig | None = None, progress=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit a head on pooled embeddings ``X`` [n, hidden] and labels ``Y`` [n, n_labels] (NaN = unknown).
    ``is_site`` marks the site's rows. Returns (weight, bias)."""
    cfg = cfg or HeadConfig()
    torch.manual_seed(cfg.seed)
    x = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(np.nan_to_num(Y, nan=0.0), dtype=torch.float32)
    known = torch.as_tensor(~np.isnan(Y), dtype=torch.float32)
    site = torch.as_tensor(is_site.astype(bool))
    n_site, n_base = int(site.sum()), int((~site).sum())
    row_w = torch.ones(len(x))
    if n_site and n_base:
        row_w[site] = cfg.site_share / n_site
        row_w[~site] = (1 - cfg.site_share) / n_base
    else:
        row_w /= len(x)
    w0, b0 = start["weight"].float(), start["bias"].float()
    weight = torch.nn.Parameter(w0.clone())
    bias = torch.nn.Parameter(b0.clone())
    opt = torch.optim.Adam([weight, bias], lr=cfg.lr)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    for step in range(cfg.steps):
        opt.zero_grad()
        logits = x @ weight.t() + bias
        loss = ((bce(logits, y) * known).sum(1) * row_w).sum()
        loss = loss + cfg.weight_decay_to_start * (((weight - w0) ** 2).sum() + ((bias - b0) ** 2).sum())
        loss.backward()
        opt.step()
        if progress is not None and step % 50 == 0:
            progress(step / cfg.steps)
    return weight.detach().clone(), bias.detach().clone()


def head_probs(X: np.ndarray, weight: torch.Tensor, bias: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(torch.as_tensor(X, dtype=torch.float32) @ weight.t() + bias).numpy()


def best_f1_threshold(y, s) -> float:
    """The toxicity threshold with the best F1 on the site's training decisions (0.05..0.95 grid, smoothed over
    +-0.02 like the default model's choice)."""
    grid, f = f1_curve(y, s)
    smooth = np.convolve(np.pad(f, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    return float(grid[int(np.argmax(smooth))])
