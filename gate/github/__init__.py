"""GitHub sinks: job summary, step outputs, sticky PR comment, check run, drift issue.

`client.py` is the only module that imports PyGithub, lazily; the others see plain data only.
"""
