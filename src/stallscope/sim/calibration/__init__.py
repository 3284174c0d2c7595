"""The Dask calibration workload (`stallscope-sim calibrate`, docs/dask.md).

A client on the scheduler host runs the calibration's trial loop against a real Dask cluster: threads that
each ask for parameters, submit `n_replicates` simulations and the aggregations of a trial, and
gather them. The tasks (tasks.py) burn real CPU, return real payloads and log `SIM_TIMING:` /
`AGG_TIMING:` on the workers; `worker_logging` is the workers' `--preload` that gives those lines the
format of docs/dask.md. Needs the `dask` extra; nothing else in stallscope imports this package.
"""
