"""producer stage."""
