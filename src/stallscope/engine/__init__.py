"""The analysis engine: standard library only, relative imports only (it also runs as Ansible
module_utils on remote hosts).

    report = analyze(paths, thresholds=None, async_level=None)
    write_outputs(report, out_dir)
"""

from .errors import EngineError, InputError, NoRecognisedLines
from .pipeline import analyze
from .render import write_outputs

__all__ = ["analyze", "write_outputs", "EngineError", "InputError", "NoRecognisedLines"]
