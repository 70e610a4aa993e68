/* replaced by generated protoc-c output */
