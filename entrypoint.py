"""Container entry point of the GitHub Action: reset PATH and HOME, then run `gate.action.main`.

The runner forwards the step's whole environment into the container, so a workflow (or an earlier
step writing to GITHUB_ENV) could point PATH at its own `docker` or `dpkg`. Run with `python -E -s`
so PYTHON* variables and user site-packages are ignored too; this file's folder holds `gate/`.
"""

import os
import pwd

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

if __name__ == "__main__":
    os.environ["PATH"] = SAFE_PATH
    os.environ["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    from gate.process import leave, start

    start()
    from gate.action import main

    leave(main())
