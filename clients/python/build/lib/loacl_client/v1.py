"""Every message and enum of the `loacl.v1` protos in one namespace.

    from loacl_client import v1
    v1.StartGuestSessionRequest(assistant_id=..., fingerprint=...)
"""
from __future__ import annotations

from typing import Any, Dict

from .gen.loacl.v1 import (assistant_pb2, benchmark_pb2, common_pb2, file_pb2, follow_up_pb2,
                           guided_question_pb2, health_pb2, message_pb2, session_pb2, thread_pb2, usage_pb2)

_MODULES = (assistant_pb2, benchmark_pb2, common_pb2, file_pb2, follow_up_pb2, guided_question_pb2,
            health_pb2, message_pb2, session_pb2, thread_pb2, usage_pb2)


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
