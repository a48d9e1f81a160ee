"""The lab result pages: public, read only, "not run yet" until a lab has written its result."""

from __future__ import annotations

import json

import pytest

from ops import charts, labs

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_every_lab_page_says_how_to_run_it_before_a_run(client, var_dir):
    listing = client.get("/ops/labs/")
    assert listing.status_code == 200
    for lab in labs.LABS.values():
        assert f'href="/ops/labs/{lab.name}/"' in listing.content.decode()
        page = client.get(f"/ops/labs/{lab.name}/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "Not run yet, run:" in html and f"python manage.py lab_{lab.name}" in html
        assert client.get(f"/ops/labs/{lab.name}/chart.svg").status_code == 404


def test_unknown_lab_is_404(client, var_dir):
    assert client.get("/ops/labs/nope/").status_code == 404
    assert client.get("/ops/labs/nope/chart.svg").status_code == 404


def test_a_written_result_is_shown_with_its_chart_and_command(client, var_dir, capsys):
    # The real writer (LabRun) produces the files; no server is needed for a result with one table.
    with labs.LabRun("persistence", quick=True, command="python manage.py lab_persistence --quick") as run:
        run.table("Acknowledged writes lost", ["config", "lost"], [["AOF always", "0"], ["RDB only", "1,234"]])
        run.check("AOF always loses 0 acknowledged writes", True, "0 lost")
        run.note("SIGKILL is not a power cut.")
        run.chart(charts.bar_chart("lost", ["AOF always", "RDB only"], [("lost", [0, 1234])]))
    printed = capsys.readouterr().out
    assert "| AOF always |" in printed and "[met] AOF always loses 0" in printed

    saved = json.loads((var_dir / "labs" / "persistence.json").read_text())
    assert saved["tables"][0]["rows"] == [["AOF always", "0"], ["RDB only", "1,234"]]

    page = client.get("/ops/labs/persistence/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Not run yet" not in html
    assert "<td>RDB only</td><td>1,234</td>" in html
    assert "python manage.py lab_persistence --quick" in html
    assert "SIGKILL is not a power cut." in html
    assert 'src="/ops/labs/persistence/chart.svg"' in html

    chart = client.get("/ops/labs/persistence/chart.svg")
    assert chart.status_code == 200
    assert chart["Content-Type"] == "image/svg+xml"
    assert "script-src" not in chart["Content-Security-Policy"] and "default-src 'none'" in chart["Content-Security-Policy"]
    assert chart.content.startswith(b"<svg")

    listing = client.get("/ops/labs/").content.decode()
    assert "(--quick)" in listing


def test_a_corrupt_result_file_reads_as_not_run(client, var_dir):
    (var_dir / "labs").mkdir()
    (var_dir / "labs" / "memory.json").write_text("{not json")
    page = client.get("/ops/labs/memory/")
    assert page.status_code == 200 and "Not run yet" in page.content.decode()


def test_lab_pages_are_public_but_the_ops_index_is_staff_only(client, var_dir):
    assert client.get("/ops/labs/sentinel/").status_code == 200
    assert client.get("/ops/").status_code == 302  # to the admin login


def test_markdown_table_right_aligns_numbers():
    text = labs.markdown_table(["policy", "hit ratio", "keys"], [["allkeys-lru", "81.3%", "9,197"]])
    header, sep, row = text.splitlines()
    assert sep == "|-------------|----------:|------:|"
    assert row == "| allkeys-lru |     81.3% | 9,197 |"


def test_the_ops_index_links_every_lab_page(client, var_dir, django_user_model):
    staff = django_user_model.objects.create_user("ops-staff", password="pw-ops-staff-1", is_staff=True)
    client.force_login(staff)
    html = client.get("/ops/").content.decode()
    assert 'href="/ops/labs/"' in html
    for lab in labs.LABS.values():
        assert f'href="/ops/labs/{lab.name}/"' in html
