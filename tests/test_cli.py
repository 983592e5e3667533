"""The command line's shared behaviour: options before or after the command, exit codes, no tracebacks."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import SAMPLE, SAMPLE_CONFIG

from pipeline.cli import cli

WEB01 = str(SAMPLE / "policies" / "web01.cmd")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_global_options_work_before_and_after_the_command():
    before = run("--config", str(SAMPLE_CONFIG), "-v", "policy", "lint", WEB01, "--host", "WEB01")
    after = run("policy", "lint", WEB01, "--host", "WEB01", "-v", "--config", str(SAMPLE_CONFIG))
    assert before.exit_code == after.exit_code == 1  # the sample script has planted weaknesses
    assert before.stdout == after.stdout
    # -v shows the notes; without it they are counted and the summary says how to see them
    plain = run("policy", "lint", WEB01, "--host", "WEB01", "--config", str(SAMPLE_CONFIG))
    assert "(notes shown with -v)" in plain.stdout and "(notes shown with -v)" not in after.stdout
    assert len(after.stdout.splitlines()) > len(plain.stdout.splitlines())


def test_a_config_error_is_exit_2_with_the_key_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[hosts.A]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    result = run("flows", "--config", str(bad), "--warehouse", str(tmp_path / "W"))
    assert result.exit_code == 2
    assert "timezone" in result.stderr and "Traceback" not in result.output


def test_unknown_protocol_name_is_a_usage_error(sample_warehouse):
    result = run("--config", str(SAMPLE_CONFIG), "explain", "--warehouse", str(sample_warehouse), "--host", "WEB01",
                 "--src", "10.1.0.99", "--dst", "10.1.0.10", "--proto", "tcpx")
    assert result.exit_code == 2 and "unknown protocol 'tcpx'" in result.stderr


def test_help_and_version_load_neither_arrow_nor_duckdb():
    """Start-up is what an admin waits for on every command: --help must not import the engines."""
    import subprocess
    import sys

    code = ("import sys; from pipeline.cli import cli\n"
            "try:\n    cli(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('pyarrow', 'duckdb', 'pandas', 'numpy', 'matplotlib') if m in sys.modules)\n"
            "print('heavy:' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "heavy:"
