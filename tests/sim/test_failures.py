"""Bad input and signals: a one-line reason and the right exit code, never a traceback or lost lines."""

import signal
import socket

from .simproc import LINE_PREFIX, run_sim, wait_for_text


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " ERROR " in line]


def test_unreachable_server_is_one_line(tmp_path):
    url = f"http://127.0.0.1:{unused_port()}"
    result = run_sim("orchestrator", "--base-url", url, "--output-dir", tmp_path,
                     "--health-timeout-s", 1)
    assert result.returncode == 1
    [error] = error_lines(result.stdout)
    assert url in error and "--base-url" in error
    assert "Traceback" not in result.stdout + result.stderr


def test_unwritable_output_dir_is_named(tmp_path):
    (tmp_path / "a-file").write_text("")
    bad = tmp_path / "a-file" / "outputs"  # not creatable, even by root
    for component in ("trainer", "orchestrator"):
        result = run_sim(component, "--output-dir", bad)
        assert result.returncode == 2
        [error] = error_lines(result.stdout)
        assert str(bad) in error and "--output-dir" in error
        assert "Traceback" not in result.stdout + result.stderr


def test_all_with_unwritable_out_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run_sim("all", "--out", tmp_path / "a-file" / "run")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--out" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_sim("inference", "--port", taken.getsockname()[1])
    assert result.returncode == 2
    [error] = error_lines(result.stdout)
    assert "--port" in error and "Traceback" not in result.stdout + result.stderr


def test_inconsistent_flags_are_usage_errors(tmp_path):
    result = run_sim("orchestrator", "--batch-size", 10, "--rollouts-per-example", 4)
    assert result.returncode == 2 and "--rollouts-per-example" in result.stderr
    result = run_sim("all", "--out", tmp_path, "--max-tokens", 4096, "--seq-len", 2048)
    assert result.returncode == 2 and "--seq-len" in result.stderr


def test_sigterm_stops_a_waiting_trainer_with_143(start, tmp_path):
    trainer = start("trainer", "trainer", "--output-dir", tmp_path / "out")
    trainer.wait_for("trainer started")
    assert trainer.stop(signal.SIGTERM) == 143
    assert trainer.text().splitlines()[-1].endswith("trainer stopped on SIGTERM before finishing its steps")


def test_sigint_stops_a_streaming_orchestrator_and_keeps_its_lines(start, server, tmp_path):
    inference, url = server
    orchestrator = start("orchestrator", "orchestrator", "--base-url", url,
                         "--output-dir", tmp_path / "out", "--batch-size", 4)
    orchestrator.wait_for(r"\[rollout\] trunc_pct=\S+ current_step=1 ")
    assert orchestrator.stop(signal.SIGINT) == 130
    lines = orchestrator.text().splitlines()
    assert lines[-1].endswith("orchestrator stopped on SIGINT before finishing its steps")
    assert all(LINE_PREFIX.match(line) for line in lines)
    assert inference.stop(signal.SIGTERM) == 0
    assert inference.text().splitlines()[-1].endswith("inference server stopped on SIGTERM")


def test_sigterm_stops_all_and_its_components(start, tmp_path):
    run_dir = tmp_path / "run"
    runner = start("all", "all", "--out", run_dir)
    wait_for_text(run_dir / "logs" / "orchestrator.log", r"\[gen\] batch\.start")
    assert runner.stop(signal.SIGTERM) == 143
    # The server's normal way to end is a signal (exit 0); the others were stopped mid-run.
    expected = {"inference": 0, "trainer": 143, "orchestrator": 143}
    for component, code in expected.items():
        assert int((run_dir / "logs" / f"{component}.exit").read_text()) == code, component
        assert "Traceback" not in (run_dir / "logs" / f"{component}.log").read_text()


def test_server_dying_mid_run_ends_the_orchestrator_with_one_line(start, server, tmp_path):
    inference, url = server
    orchestrator = start("orchestrator", "orchestrator", "--base-url", url,
                         "--output-dir", tmp_path / "out", "--batch-size", 4)
    orchestrator.wait_for(r"\[gen\] batch\.done")
    assert inference.stop(signal.SIGKILL) == -signal.SIGKILL
    assert orchestrator.proc.wait(30) == 1
    [error] = error_lines(orchestrator.text())
    assert url in error and "Traceback" not in orchestrator.text()
