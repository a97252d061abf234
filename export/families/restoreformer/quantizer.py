"""The codebook lookup of RestoreFormer(++): the nearest of ``n_embed`` learned vectors per position.

Distances are computed as the official ``VectorQuantizer`` does, row by row over the flattened
(N*H*W, C) latent: ``|z|^2 + |e|^2 - 2 z.e``. The index is the first minimum (``torch.min``/ArgMin
both return the first one on ties). Only the codebook ``embedding.weight`` (n_embed, C) is learned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.precision.policy import cast


class VectorQuantizer(nn.Module):
    """(N, C, H, W) latent -> (N, C, H, W) nearest codebook vectors.

    ``export_form=False`` (faithful): one-hot matrix times codebook as the official forward does.
    ``export_form=True``: ``argmin`` + ``embedding`` (ONNX ArgMin + Gather), no one-hot scatter.
    Both end with the official straight-through sum ``z + (z_q - z)`` (``z_q`` up to rounding).
    When ``pinned_dtype`` is set, distances and the lookup are computed in that dtype (the codebook
    is meant to stay in float32 in an FP16 build) and the result is cast back to the input dtype.
    """

    def __init__(self, n_embed: int, embed_dim: int, export_form: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.export_form = export_form
        self.pinned_dtype: torch.dtype | None = None

    def _rows(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The latent as (N*H*W, C) rows and the codebook, both in the working dtype."""
        rows = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        codebook = self.embedding.weight
        if self.pinned_dtype is not None:
            rows, codebook = cast(rows, self.pinned_dtype), cast(codebook, self.pinned_dtype)
        return rows, codebook

    @staticmethod
    def _squared_distances(rows: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        return (
            torch.sum(rows**2, dim=1, keepdim=True)
            + torch.sum(codebook**2, dim=1)
            - 2 * torch.matmul(rows, codebook.t())
        )

    def distances(self, z: torch.Tensor) -> torch.Tensor:
        """(N*H*W, n_embed) squared distances of every latent position to every codebook vector."""
        return self._squared_distances(*self._rows(z))

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """(N, H, W) int64 index of the nearest codebook vector at each position."""
        return torch.argmin(self.distances(z), dim=1).reshape(z.shape[0], z.shape[2], z.shape[3])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        rows, codebook = self._rows(z)
        distances = self._squared_distances(rows, codebook)
        if self.export_form:
            nearest = F.embedding(torch.argmin(distances, dim=1), codebook)
        else:
            index = torch.min(distances, dim=1)[1].unsqueeze(1)
            one_hot = rows.new_zeros(index.shape[0], codebook.shape[0])
            one_hot.scatter_(1, index, 1)
            nearest = torch.matmul(one_hot, codebook)
        # The official straight-through sum, kept in both forms: its rounding (<= 1 ulp of |z|) is
        # part of the official output, and the decoder can amplify such differences a hundredfold.
        nearest = rows + (nearest - rows)
        channels_last = z.permute(0, 2, 3, 1)
        return cast(nearest.reshape(channels_last.shape).permute(0, 3, 1, 2), z.dtype)
