HF_HOME="/tmp/hf"
HF_HUB_OFFLINE=True
def __getattr__(name):
    if name.startswith("__"): raise AttributeError(name)
    return (lambda *a, **k: None) if name[0].islower() else type(name, (Exception,), {})
