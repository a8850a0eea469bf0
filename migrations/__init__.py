"""Forward-only, versioned schemas for both stores, each recorded in the database."""
