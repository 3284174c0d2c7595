"""profiles/dask_calibration.yml resolved by the launch_plan filter: placement, binding, the worker
count the job waits for, the variants' flags."""

from tests.test_launch_plan import by_name, plan


def test_one_host_cluster_binds_everything_to_loopback():
    resolved = plan("dask_calibration", "h1", {"dask_scheduler": ["h1"], "dask_workers": ["h1"]})
    assert resolved["order"] == ["scheduler", "workers", "calibration"] == resolved["here"]
    assert resolved["ports"] == [8786]
    components = by_name(resolved)
    assert components["scheduler"]["command"] == (
        "exec /venv/bin/python -m distributed.cli.dask_scheduler --host 127.0.0.1 --port 8786 "
        "--dashboard-address 127.0.0.1:8787")
    assert components["scheduler"]["health"]["url"] == "http://127.0.0.1:8787/health"
    workers = components["workers"]["command"]
    assert workers.startswith("exec /venv/bin/python -m distributed.cli.dask_worker tcp://127.0.0.1:8786 --host 127.0.0.1 ")
    for flag in ("--nworkers 4", "--nthreads 1", "--memory-limit 2GiB", "--resources aggregation=1",
                 "--preload stallscope.sim.calibration.worker_logging"):
        assert flag in workers
    job = components["calibration"]
    assert "--scheduler tcp://127.0.0.1:8786 --run-id r1 --workers 4 " in job["command"]
    assert job["environment"]["ENABLE_PERF_REPORT"] == "0"
    assert "--perf-report-dir /home/u/stallscope-runs/r1/logs" in job["command"]
    assert resolved["config"] == {"targets": "incidence,prevalence", "aggregation": "per-target",
                                  "agg_placement": "any", "n_replicates": 10, "nworkers": 4, "memory_limit": "2GiB"}


def test_workers_on_two_other_hosts_reach_the_scheduler_by_its_address():
    groups = {"dask_scheduler": ["h1"], "dask_workers": ["h2", "h3"]}
    overrides = {"aggregation": "multi-target", "agg_placement": "data", "nworkers": 2, "perf_report": "1"}
    scheduler_host = by_name(plan("dask_calibration", "h1", groups, overrides))
    assert scheduler_host["scheduler"]["here"] and scheduler_host["calibration"]["here"]
    assert not scheduler_host["workers"]["here"]
    assert "--host 10.0.0.1 --port 8786 --dashboard-address 10.0.0.1:8787" in scheduler_host["scheduler"]["command"]
    job = scheduler_host["calibration"]["command"]
    assert "--scheduler tcp://10.0.0.1:8786" in job and "--workers 4 " in job
    assert "--aggregation multi-target --placement data" in job
    assert scheduler_host["calibration"]["environment"]["ENABLE_PERF_REPORT"] == "1"
    worker_host = by_name(plan("dask_calibration", "h3", groups, overrides))
    assert worker_host["workers"]["here"] and not worker_host["calibration"]["here"]
    assert "dask_worker tcp://10.0.0.1:8786 --host 10.0.0.3 --nworkers 2 " in worker_host["workers"]["command"]
