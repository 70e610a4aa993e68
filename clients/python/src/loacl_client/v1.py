"""Every message and enum of the `loacl.v1` protos in one namespace.

    from loacl_client import v1
    v1.StartGuestSessionRequest(assistant_id=..., fingerprint=...)
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Dict

from .gen.loacl import v1 as _generated

# Every generated module (one per .proto file), found at import: a new .proto needs no edit here.
_MODULES = tuple(importlib.import_module(f"{_generated.__name__}.{info.name}")
                 for info in sorted(pkgutil.iter_modules(_generated.__path__), key=lambda i: i.name)
                 if info.name.endswith("_pb2"))


def _exports() -> Dict[str, Any]:
    names: Dict[str, Any] = {}
    for module in _MODULES:
        fd = module.DESCRIPTOR
        for name in list(fd.message_types_by_name) + list(fd.enum_types_by_name):
            names[name] = getattr(module, name)
        for enum in fd.enum_types_by_name.values():
            for value in enum.values:
                names[value.name] = value.number
    return names


globals().update(_exports())
