"""Tests of gate.inspection."""
