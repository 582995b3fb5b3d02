"""The method stage."""
