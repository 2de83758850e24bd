"""Tests of gate.knowledge."""
