"""Skillproof package."""
