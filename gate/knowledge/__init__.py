"""What is known about OTP releases and advisories: bundled snapshot and live sources."""

from pathlib import Path

# The bundled data (gate/knowledge/data). The package is installed as files (pip, the image), never
# zipped: a plain path spares importlib.resources and the zipfile module it loads (~4 ms of every
# run's start-up, issue 12).
DATA_DIR = Path(__file__).resolve().parent / "data"
