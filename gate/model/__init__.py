"""Pure, frozen data shared by every stage: no I/O, no third-party types.

One module per concept (`common`, `elf`, `runtime`, `otp`, `report`); import from them directly.
"""
