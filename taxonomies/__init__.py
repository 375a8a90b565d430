"""Skills taxonomies: the model, importers, label normalisation and search (no service imports)."""
