"""report.html, compare.html and sweep.html: the analysis as one self-contained page (Bokeh, scripts inline).

An optional extra of the package (`pip install 'stallscope[report]'`): the engine stays standard
library and never imports this; the CLI and the log_diagnosis module call it after the engine's own
files are written, and say in one line how to get the page when Bokeh is missing.
"""

import importlib.util


class RendererMissing(Exception):
    """Bokeh (the report extra) is not installed; the message says how to get the page."""


def _page(name):
    if importlib.util.find_spec("bokeh") is None:
        raise RendererMissing(f"{name} not written: Bokeh is not installed; "
                              "pip install 'stallscope[report]' (make venv installs it)")
    from . import page

    return page


def page_written(write, *args):
    """What a module returns about a page: {"html_path": write(*args)}, or {"html_missing": how to
    get it} without Bokeh. OSError (the page could not be written) is the caller's to report."""
    try:
        return {"html_path": write(*args)}
    except RendererMissing as missing:
        return {"html_missing": str(missing)}


def write_report_html(report, out_dir):
    """Writes report.html for a fresh analysis (its report.timeline is read); returns its path.
    Raises RendererMissing without Bokeh."""
    return _page("report.html").write_report(report, out_dir)


def write_compare_html(result, before, after, names, path):
    """Writes compare.html for a `stallscope compare` result (`before`, `after`: the two reports,
    `names`: what the user named them); returns its path. Raises RendererMissing without Bokeh."""
    return _page("compare.html").write_compare(result, before, after, names, path)


def write_sweep_html(result, path):
    """Writes sweep.html for a sweep's summary (stallscope.sweep.summary's result); returns its path.
    Raises RendererMissing without Bokeh."""
    return _page("sweep.html").write_sweep(result, path)
