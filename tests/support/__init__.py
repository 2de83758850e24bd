"""Shared test fixtures: real Debian OTP packages, gcc-built ELF files, a private Docker engine."""
