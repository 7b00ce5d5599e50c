"""The models' outputs, as Hugging Face's ``ModelOutput`` behaves."""
from collections import OrderedDict


class ModelOutput(OrderedDict):
    """Outputs by name (``out.logits``) or by position (``out[0]``), skipping
    those that are None, like Hugging Face's ``ModelOutput``."""

    def __init__(self, **values):
        super().__init__((k, v) for k, v in values.items() if v is not None)

    def __getattr__(self, name):
        if name in self:
            return self[name]
        if name.startswith("_"):
            raise AttributeError(name)
        return None

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self):
        return tuple(self.values())
