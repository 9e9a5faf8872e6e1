def __getattr__(name):
    if name.startswith("__"): raise AttributeError(name)
    return (lambda *a, **k: None) if name[0].islower() else type(name, (Exception,), {})
