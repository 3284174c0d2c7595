"""`dask worker --preload stallscope.sim.calibration.worker_logging`: the workers' log format (docs/dask.md).

The tasks log through the `stallscope.calibration` logger; distributed configures only its own
`distributed` logger, so without this preload their INFO lines would go nowhere. The format is the
one the workload's lines are read in (`%(asctime)s %(levelname)s %(name)s: %(message)s`), on stderr
like distributed's own lines, so both land in the worker's log.
"""

import logging
import sys

LOGGER_NAME = "stallscope.calibration"
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    if any(getattr(handler, "stallscope", False) for handler in logger.handlers):
        return  # imported again (a second preload, a restarted worker in the same process)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LINE_FORMAT))
    handler.stallscope = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


configure()
