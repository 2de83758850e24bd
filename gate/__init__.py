"""otp-hardening-gate: check that the Erlang/OTP runtime you ship is hardened and patched."""

__version__ = "0.1.0"
