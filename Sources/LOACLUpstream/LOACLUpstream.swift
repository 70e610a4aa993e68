// Upstream providers: see issue 6.
