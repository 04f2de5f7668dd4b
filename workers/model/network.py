"""The Vigie classifier: e5 encoder (BertModel) + mean pooling + a linear multi-label head,
with hand-written LoRA adapters that are merged into the base weights for inference."""
from __future__ import annotations

import math

import torch
from torch import nn

LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")


class LoRALinear(nn.Module):
    """y = base(x) + scale * B(A(dropout(x))); base frozen, A and B trained."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        self.base = base
        self.r = r
        self.scale = alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        return self.base(x) + (self.dropout(x) @ self.lora_A.t() @ self.lora_B.t()) * self.scale

    def merged(self) -> nn.Linear:
        with torch.no_grad():
            self.base.weight += (self.lora_B @ self.lora_A) * self.scale
        return self.base


def _is_target(name: str, targets) -> bool:
    # "encoder.layer.3.output.dense" must match "output.dense" but not be confused with
    # "encoder.layer.3.attention.output.dense" (that one is matched by its own target)
    for t in targets:
        if name.endswith(t):
            if t == "output.dense" and name.endswith("attention.output.dense"):
                continue
            return True
    return False


def add_lora(encoder: nn.Module, r: int, alpha: float, dropout: float, targets=LORA_TARGETS) -> list[str]:
    names = [n for n, m in encoder.named_modules() if isinstance(m, nn.Linear) and _is_target(n, targets)]
    for n in names:
        parent_name, child = n.rsplit(".", 1)
        parent = encoder.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, dropout))
    return names


def merge_lora(encoder: nn.Module) -> int:
    n = 0
    for name, m in list(encoder.named_modules()):
        if isinstance(m, LoRALinear):
            parent_name, child = name.rsplit(".", 1)
            setattr(encoder.get_submodule(parent_name), child, m.merged())
            n += 1
    return n


class ToxicityClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, n_labels: int, head_dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(head_dropout)
        self.head = nn.Linear(hidden, n_labels)

    def forward(self, input_ids, attention_mask):
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What the shipped artifact holds: LoRA factors and the head (float32)."""
        sd = {}
        for name, p in self.named_parameters():
            if p.requires_grad:
                sd[name] = p.detach().float().cpu().contiguous()
        return sd


def make_encoder(config_dict: dict, state_dict: dict, attn: str = "sdpa"):
    """A BertModel (no pooler) from a config dict and a float32 state dict (numpy or torch)."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(**{k: v for k, v in config_dict.items() if k not in ("architectures", "model_type")})
    try:
        cfg._attn_implementation = attn
    except Exception:
        pass
    with torch.device("meta"):
        enc = BertModel(cfg, add_pooling_layer=False)
    sd = {k: (torch.from_numpy(v) if not isinstance(v, torch.Tensor) else v) for k, v in state_dict.items()}
    missing, unexpected = enc.load_state_dict(sd, strict=False, assign=True)
    missing = [m for m in missing if not m.endswith("position_ids") and not m.endswith("token_type_ids")]
    if missing or unexpected:
        raise RuntimeError(f"encoder weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    # buffers created on meta need real values
    for name, buf in list(enc.named_buffers()):
        if buf.is_meta:
            mod_name, bname = name.rsplit(".", 1)
            mod = enc.get_submodule(mod_name)
            if bname == "position_ids":
                mod.register_buffer(bname, torch.arange(cfg.max_position_embeddings).expand((1, -1)),
                                    persistent=False)
            else:
                mod.register_buffer(bname, torch.zeros(buf.shape, dtype=buf.dtype), persistent=False)
    enc.eval()
    return enc


def apply_adapter(enc, adapter: dict, lora_scale: float) -> None:
    """Merge LoRA factors (``*.lora_A``/``*.lora_B``) into ``enc`` and copy full tensors
    (``encoder.<param name>``, e.g. the stage-2 top layers) over its weights. Keys ``head.*`` are skipped."""
    with torch.no_grad():
        for k, A in adapter.items():
            if k.endswith(".lora_A"):
                mod = k[: -len(".lora_A")]
                B = adapter[mod + ".lora_B"]
                lin = enc.get_submodule(mod[len("encoder."):])
                lin.weight += lora_scale * (B.float() @ A.float())
        for k, v in adapter.items():
            if k.startswith("encoder.") and not (k.endswith(".lora_A") or k.endswith(".lora_B")):
                enc.get_parameter(k[len("encoder."):]).copy_(v.float())
