"""The benchmark suite still works: its smoke mode runs end to end. Never asserts times."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("wrk")),
    reason="the benchmarks need redis-server and wrk (make system-deps)",
)


def test_smoke_run_checks_every_variant_and_writes_the_table(tmp_path: Path) -> None:
    from benchmarks.variants import VARIANTS

    output = tmp_path / "results.md"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = output.read_text()
    assert table in completed.stdout
    assert "## Cost per request" in table
    costs = table.split("## Cost per request", 1)[1].split("## Checks", 1)[0]
    cost_rows = {line.split(" | ")[0].lstrip("| "): line for line in costs.splitlines()}
    for variant in VARIANTS.values():
        server_cpu = cost_rows[variant.label].strip("|").split("|")[7].strip()
        assert float(server_cpu) > 0, cost_rows[variant.label]  # read from /proc each round
    checks = table.split("## Checks", 1)[1].split("## Sign-in", 1)[0]
    signin = table.split("## Sign-in", 1)[1].split("## loginsite against", 1)[0]
    assert "CPU in the app" in signin, signin
    rows = {line.split(" | ")[0].lstrip("| "): line for line in checks.splitlines()}
    for variant in VARIANTS.values():
        row = rows[variant.label]
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        authenticated, tampered, revoked = cells[2:5]
        if variant.authenticates:
            assert authenticated == "yes", row
            assert tampered == "yes", row
        else:
            assert authenticated == tampered == "n/a", row
        if variant.revocable:
            assert revoked == "yes", row
        assert cells[5] == "0", f"HTTP errors: {row}"


def test_revocation_smoke_run_measures_every_case_and_states_each_target(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    output.write_text("# Results\n\n## Cost per request\n\nkept\n")
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.revocation", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    text = output.read_text()
    assert "## Cost per request\n\nkept" in text  # the rest of the file is kept
    section = text.split("## Revocation store", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| 1,000 entries |")]
    assert len(rows) == 1  # 1,000 entries (smoke)
    assert "simulated day" in section
    for target in ("RSS for the revocation list", "ready within", "no refusal", "p99"):
        assert target in section


def test_inprocess_only_times_metrics_and_the_access_log() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--inprocess-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    assert "loginsite `memory`, metrics on" in out
    assert "loginsite with metrics on:" in out
    assert "The access log (one JSON line per request):" in out


def test_instruction_counts_are_read_against_the_reference_floor() -> None:
    from benchmarks.instructions import Count, report

    text = report(
        [
            Count("bare", 100_000),
            Count("loginsite_memory", 125_000),
            Count("loginsite_metrics", 160_000),
            Count("loginsite_access_log", 300_000),
        ]
    )
    assert "| loginsite_metrics | 160,000 | +60,000 | +60.0% | +5.2 |" in text
    assert text.endswith("(target: within +5): not met.")
    assert report([Count("bare", 100_000), Count("loginsite_metrics", 157_000)]).endswith(
        "(target: within +5): met."
    )


@pytest.mark.parametrize("variant", ["bare", "loginsite_metrics"])
def test_the_instruction_count_child_serves_steady_state_requests(variant: str) -> None:
    # (not the access-log variant: it reroutes the loginsite.access logger for the process)
    from benchmarks.instructions import child

    child(variant, 10)  # its own checks: every answer a 200 (_start_response raises otherwise)
