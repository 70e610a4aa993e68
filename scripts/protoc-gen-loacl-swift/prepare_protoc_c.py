#!/usr/bin/env python3
"""Rewrites a FileDescriptorSet for protoc-c 1.4, which refuses proto3 `optional`.

A proto3 `optional` field is, on the wire and in the descriptor, a member of a one-field
"synthetic" oneof. Clearing the `proto3_optional` flag turns that into an ordinary oneof, which
protoc-c supports: the C struct gets a `_<field>_case` member that records presence. The wire
format is unchanged. The Swift generator reads the original descriptors (it knows the C names).

usage: prepare_protoc_c.py IN.pb OUT.pb   (also prints the file names in the set, one a line)
"""
import sys

from google.protobuf import descriptor_pb2


def clear(message):
    for field in message.field:
        if field.proto3_optional:
            field.ClearField("proto3_optional")
    for nested in message.nested_type:
        clear(nested)


def main():
    fds = descriptor_pb2.FileDescriptorSet()
    with open(sys.argv[1], "rb") as f:
        fds.ParseFromString(f.read())
    for file in fds.file:
        for message in file.message_type:
            clear(message)
        print(file.name)
    with open(sys.argv[2], "wb") as f:
        f.write(fds.SerializeToString(deterministic=True))


if __name__ == "__main__":
    main()
