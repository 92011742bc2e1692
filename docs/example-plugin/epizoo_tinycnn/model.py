"""TinyCNN: one convolution per element, global max pooling, and a small dense head."""

from __future__ import annotations

import torch
from torch import nn


class Branch(nn.Module):
    """One-hot sequence (batch, 4, length) -> one feature per filter (batch, filters)."""

    def __init__(self, filters: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv1d(4, filters, kernel_size, padding=kernel_size // 2)

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        # Global max pooling keeps the strongest motif match anywhere in the window, so the
        # model accepts any length and the shifted training windows cost nothing extra.
        return torch.relu(self.conv(onehot)).amax(dim=-1)


class TinyCNN(nn.Module):
    def __init__(
        self,
        enhancer_length: int,
        promoter_length: int,
        filters: int = 32,
        kernel_size: int = 9,
        hidden: int = 16,
        dropout: float = 0.2,
    ):
        super().__init__()
        # Lengths are part of every model's hparams; this model needs none, thanks to pooling.
        self.enhancer = Branch(filters, kernel_size)
        self.promoter = Branch(filters, kernel_size)
        self.head = nn.Sequential(
            nn.Linear(2 * filters, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, enhancer: torch.Tensor, promoter: torch.Tensor) -> torch.Tensor:
        features = torch.cat([self.enhancer(enhancer), self.promoter(promoter)], dim=1)
        return self.head(features).squeeze(-1)  # logits (batch,): no sigmoid inside
