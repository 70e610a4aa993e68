// LOACLCrypto
