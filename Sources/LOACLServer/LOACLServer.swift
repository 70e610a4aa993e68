// LOACLServer
