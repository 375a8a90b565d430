"""Every SQL statement the service runs lives in this package. Repositories never commit."""
