"""livestyle: restyle the background of live or recorded video, keeping the person untouched.

Pipeline: capture -> segment -> stylize -> composite -> sink. See :mod:`livestyle.engine.pipeline`.
"""

__version__ = "0.1.0"
