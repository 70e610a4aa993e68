// LOACLCore
