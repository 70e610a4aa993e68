"""Call metadata: ordered (key, value) pairs; text values, or bytes for keys ending in `-bin`."""
from __future__ import annotations

import re
from typing import Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

MetadataValue = Union[str, bytes]
MetadataLike = Union[Mapping[str, MetadataValue], Iterable[Tuple[str, MetadataValue]], "Metadata"]

_KEY = re.compile(r"^[a-z0-9._-]{1,128}$")


def is_valid_key(key: str) -> bool:
    """1–128 bytes of lowercase [a-z0-9-_.] (docs/PROTOCOL.md §3.2)."""
    return bool(_KEY.match(key))


class Metadata(Sequence[Tuple[str, MetadataValue]]):
    """An immutable, ordered list of metadata entries. Keys may repeat."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Optional[MetadataLike] = None) -> None:
        if entries is None:
            items: List[Tuple[str, MetadataValue]] = []
        elif isinstance(entries, Metadata):
            items = list(entries._entries)
        elif isinstance(entries, Mapping):
            items = list(entries.items())
        else:
            items = [(k, v) for k, v in entries]
        for key, value in items:
            _check(key, value)
        self._entries: Tuple[Tuple[str, MetadataValue], ...] = tuple(items)

    def get(self, key: str, default: Optional[MetadataValue] = None) -> Optional[MetadataValue]:
        """The first value of `key`, or `default`."""
        for k, v in self._entries:
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> List[MetadataValue]:
        """Every value of `key`, in order."""
        return [v for k, v in self._entries if k == key]

    def __getitem__(self, index):  # type: ignore[override]
        return self._entries[index]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Tuple[str, MetadataValue]]:
        return iter(self._entries)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Metadata):
            return self._entries == other._entries
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._entries)

    def __repr__(self) -> str:
        return f"Metadata({list(self._entries)!r})"

    # -- wire conversion ------------------------------------------------------------------------
    def to_entries(self, entry_type):  # noqa: ANN001 - protobuf message class
        out = []
        for key, value in self._entries:
            if key.endswith("-bin"):
                out.append(entry_type(key=key, binary_value=value))
            else:
                out.append(entry_type(key=key, value=value))
        return out

    @classmethod
    def from_entries(cls, entries) -> "Metadata":  # noqa: ANN001 - repeated MetadataEntry
        # Received metadata is taken as sent: the server is trusted to follow the key rules.
        md = cls()
        md._entries = tuple(
            (e.key, bytes(e.binary_value) if e.key.endswith("-bin") else e.value) for e in entries
        )
        return md


def _check(key: object, value: object) -> None:
    if not isinstance(key, str) or not is_valid_key(key):
        raise ValueError(f"invalid metadata key {key!r}: 1-128 bytes of lowercase [a-z0-9-_.]")
    if key.endswith("-bin"):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"metadata key {key!r} ends in -bin: its value must be bytes")
    elif not isinstance(value, str):
        raise TypeError(f"metadata key {key!r} carries text: its value must be str")
