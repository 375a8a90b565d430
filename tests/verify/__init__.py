"""Tests for the verification engine."""
