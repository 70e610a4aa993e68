// LOACLMigrations
