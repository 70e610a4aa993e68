// LOACLClient
