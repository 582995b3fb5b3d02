"""The optim stage."""
