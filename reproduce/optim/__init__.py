"""Optimisers written for this project (torch tensors on any device)."""
