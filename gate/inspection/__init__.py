"""Inspection: turn acquired files into plain facts (ELF facts, checks, runtime walk, OTP version)."""
