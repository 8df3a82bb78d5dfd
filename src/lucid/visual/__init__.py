"""``lucid.visual``: look at a network instead of reading it.

- `build_mermaid_chart` draws any ``nn.Module`` as a mermaid flowchart with the tensor
  shapes of a real forward pass (the picture of lucid's documentation).
- `summary` tabulates every layer's output shape, parameters and multiply-adds.

Both run the model once on an example input and leave it exactly as it was.
"""

from lucid.visual._trace import TraceError
from lucid.visual.mermaid import KIND_STYLES, build_mermaid_chart, layer_kind
from lucid.visual.summary import LayerRow, Summary, summary

__all__ = ["build_mermaid_chart", "summary", "Summary", "LayerRow", "TraceError", "layer_kind", "KIND_STYLES"]
