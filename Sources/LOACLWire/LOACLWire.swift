// LOACLWire
