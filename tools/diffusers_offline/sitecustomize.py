# Make Debian's torch 1.13 look new enough for current diffusers' scheduler modules.
import types
try:
    import torch
    class _NS(types.SimpleNamespace):
        def __getattr__(self, name):
            return lambda *a, **k: False
    for name in ["xpu", "mps", "npu", "mlu", "musa"]:
        if not hasattr(torch, name):
            setattr(torch, name, _NS())
    if not hasattr(torch.backends, "mps"):
        torch.backends.mps = _NS()
    for name in ["float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64"]:
        if not hasattr(torch, name):
            setattr(torch, name, torch.float32)
except Exception:
    pass
