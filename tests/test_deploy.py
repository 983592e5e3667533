"""The scheduler files in ``deploy/``: the systemd units pass ``systemd-analyze verify`` and the Windows
``schtasks /Create`` line is well formed; the command each of them runs is run here on the sample site."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_nightly import EXPECTED, make_site

from pipeline.cli import cli

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SERVICE = DEPLOY / "systemd" / "ipsec-drops-nightly.service"
TIMER = DEPLOY / "systemd" / "ipsec-drops-nightly.timer"
TASK = DEPLOY / "windows" / "create-nightly-task.cmd"


def unit_values(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: .ci/run installs the systemd package")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd); CI runs this test")
    return found


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    tool = systemd_analyze()
    # verify also checks that ExecStart's program exists: point it at this checkout's command
    program = shutil.which("ipsec-drops") or str(Path(sys.executable).with_name("ipsec-drops"))
    text = SERVICE.read_text(encoding="utf-8").replace("/srv/ipsec-drops/.venv/bin/ipsec-drops", program)
    (tmp_path / SERVICE.name).write_text(text, encoding="utf-8")
    shutil.copy(TIMER, tmp_path / TIMER.name)
    done = subprocess.run([tool, "verify", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
                          capture_output=True, text=True)
    # verify exits 0 on settings it ignores: any line about the units is a finding
    findings = [line for line in (done.stdout + done.stderr).splitlines() if "ipsec-drops-nightly" in line]
    assert done.returncode == 0 and not findings, done.stdout + done.stderr


def test_systemd_analyze_verify_would_catch_a_mistake_in_them(tmp_path):
    tool = systemd_analyze()
    text = TIMER.read_text(encoding="utf-8").replace("OnCalendar=*-*-* 02:15:00", "OnCalendar=every night")
    (tmp_path / TIMER.name).write_text(text, encoding="utf-8")
    done = subprocess.run([tool, "verify", str(tmp_path / TIMER.name)], capture_output=True, text=True)
    assert "calendar" in (done.stdout + done.stderr).lower()


def test_the_units_run_the_nightly_job_and_treat_skipped_input_as_success():
    service, timer = unit_values(SERVICE), unit_values(TIMER)
    assert service["Type"] == ["oneshot"] and service["SuccessExitStatus"] == ["1"]
    command = shlex.split(service["ExecStart"][0])
    assert command[0].endswith("/ipsec-drops") and "nightly" in command
    assert timer["OnCalendar"] == ["*-*-* 02:15:00"] and timer["Persistent"] == ["true"]
    assert unit_values(TIMER)["WantedBy"] == ["timers.target"]


def schtasks_switches(line: str) -> dict[str, str]:
    """The switches of a ``schtasks /Create`` line as cmd.exe passes them (quoted values unquoted)."""
    assert line.startswith("schtasks /Create ")
    out: dict[str, str] = {}
    for m in re.finditer(r'/(\w+)(?:\s+("(?:[^"\\]|\\.)*"|[^/\s]\S*))?', line[len("schtasks /Create "):]):
        value = m.group(2) or ""
        out[m.group(1).upper()] = value[1:-1] if value.startswith('"') else value
    return out


def test_the_windows_task_command_is_well_formed_schtasks_create_syntax():
    line = next(x for x in TASK.read_text(encoding="utf-8").splitlines() if x.startswith("schtasks"))
    switches = schtasks_switches(line)
    # only switches schtasks /Create knows, each with a value where it takes one
    assert set(switches) <= {"F", "TN", "SC", "ST", "RU", "RP", "RL", "TR", "MO", "D", "SD", "ED", "DU", "RI",
                             "K", "IT", "Z", "V1", "NP", "HRESULT", "DELAY", "XML", "S", "U", "P", "M", "I", "EC"}
    assert {"TN", "SC", "ST", "TR"} <= set(switches)
    assert switches["SC"] == "DAILY" and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", switches["ST"])
    assert switches["RU"] == "SYSTEM" and switches["RL"] in ("LIMITED", "HIGHEST")
    assert len(switches["TR"]) <= 261  # the longest /TR schtasks accepts
    assert '"' not in switches["TR"]  # no nested quotes to get wrong: paths without spaces


def test_the_command_the_windows_task_runs_is_a_working_nightly_command(tmp_path):
    line = next(x for x in TASK.read_text(encoding="utf-8").splitlines() if x.startswith("schtasks"))
    run = schtasks_switches(line)["TR"]
    assert run.startswith("cmd /c ") and run.endswith(">> C:\\ipsec-drops\\nightly.log 2>&1")
    args = run.removeprefix("cmd /c ").split(" >> ")[0].split()
    assert args[0].endswith("\\ipsec-drops.exe")
    config = make_site(tmp_path)
    args = [str(config) if a.endswith("ipsec-drops.toml") else a for a in args[1:]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"{EXPECTED['total_drops']} new drops" in result.stdout


def test_the_service_command_is_a_working_nightly_command(tmp_path):
    command = shlex.split(unit_values(SERVICE)["ExecStart"][0])
    config = make_site(tmp_path)
    args = [str(config) if a.endswith("ipsec-drops.toml") else a for a in command[1:]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1].startswith('{"time"')  # --log-format json: lines for the journal
