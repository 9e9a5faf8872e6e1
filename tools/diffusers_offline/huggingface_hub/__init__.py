# Minimal stand-in so diffusers' scheduler modules import offline (no hub access is used).
import types, sys
__version__ = "0.99.0"
class _Dummy:
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return None
    def __getattr__(self, name): return _Dummy()
def __getattr__(name):
    if name.startswith("__"): raise AttributeError(name)
    return _Dummy
