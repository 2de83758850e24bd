"""What is known about OTP releases and advisories: bundled snapshot and live sources."""
