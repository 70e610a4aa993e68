"""LOACL's protoc plugin: emits Swift types bridged to protobuf-c, driven by descriptors."""
