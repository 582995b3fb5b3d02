"""The network stage."""
