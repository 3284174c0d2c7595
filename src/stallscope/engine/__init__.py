"""The analysis engine: standard library only, relative imports only (it also runs as Ansible
module_utils on remote hosts).

    report = analyze(paths, thresholds=None, async_level=None, state_dir=None)
    report = analyze_states(state_dirs, thresholds=None, async_level=None)
    write_outputs(report, out_dir)
"""

from .errors import EngineError, InputError, NoRecognisedLines
from .pipeline import analyze, analyze_states
from .render import write_outputs

__all__ = ["analyze", "analyze_states", "write_outputs", "EngineError", "InputError", "NoRecognisedLines"]
