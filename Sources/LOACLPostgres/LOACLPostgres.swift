// LOACLPostgres
