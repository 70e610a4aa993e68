// Hex and Base64URL live in LOACLEncoding (the PostgreSQL layer needs hex too, without OpenSSL);
// re-exported so code that works with digests and tokens keeps one import.
@_exported import LOACLEncoding
