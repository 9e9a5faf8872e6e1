class _Dummy(Exception):
    def __init__(self, *a, **k): pass
def __getattr__(name):
    if name.startswith("__"): raise AttributeError(name)
    if name[0].isupper(): return _Dummy
    return lambda *a, **k: None
