"""Typed stubs for every LOACL service (re-exported from the generated `gen.services`)."""
from .gen.services import *  # noqa: F401,F403
from .gen.services import SERVICES  # noqa: F401
