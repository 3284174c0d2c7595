"""What provision leaves on the test host."""


def test_uv_runs_from_the_users_path(host):
    home = f"/home/{host.user().name}"
    uv = host.run(f"{home}/.local/bin/uv --version")
    assert uv.rc == 0 and uv.stdout.startswith("uv ")
    assert host.file(f"{home}/.local/bin/uv").is_symlink


def test_run_root_belongs_to_the_user(host):
    root = host.file(f"/home/{host.user().name}/stallscope-runs")
    assert root.is_directory and root.user == host.user().name and root.mode == 0o750


def test_open_files_limit_drop_in(host):
    drop_in = host.file(f"/etc/security/limits.d/90-stallscope-{host.user().name}.conf")
    assert drop_in.user == "root" and drop_in.mode == 0o644
    assert f"{host.user().name} soft nofile 32000" in drop_in.content_string
    assert f"{host.user().name} hard nofile 32000" in drop_in.content_string


def test_packages_present(host):
    for name in ("git", "tmux", "zstd", "python3-venv"):
        assert host.package(name).is_installed, name
