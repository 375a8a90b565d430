"""Tests for the connectors package."""
