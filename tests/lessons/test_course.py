"""The course map (``/course/``) and the self-check (``/self-check/``).

The map is data (``lessons/course.py``): these tests hold it against the URL
configuration, the use-case map, the lab registry, the management commands and
the files on disk, then crawl both pages as an anonymous visitor, with the
test client and once through the real ASGI server: every link answers 200,
except the staff-only pages, which are marked "(staff)" and answer 302 to the
login page. The staff-only links are named below (``STAFF_ONLY_*``).
"""

from __future__ import annotations

import http.client
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import get_commands
from django.urls import NoReverseMatch

from lessons import course, selfcheck
from lessons.course import SECTIONS, Page, page_url
from lessons.usecases import USE_CASES
from ops.labs import LABS

pytestmark = pytest.mark.django_db

BASE = Path(settings.BASE_DIR)
LOGIN = "/admin/login/"

# The staff-only pages each page links to, all marked "(staff)". The header's menus (on every page) link three:
# the streams page and two ops pages; the course map adds the operations area, the slow log and the keyspace.
STAFF_ONLY_IN_MENUS = {"/workers/streams/", "/ops/redis/", "/ops/redis/reports/"}
STAFF_ONLY_ON_COURSE = STAFF_ONLY_IN_MENUS | {"/ops/", "/ops/redis/slowlog/", "/ops/redis/keys/"}
STAFF_ONLY_ON_SELF_CHECK = STAFF_ONLY_IN_MENUS


def section_numbers(spec: str) -> set[int]:
    """Top-level course sections named by "2.5, 8.3", "3-6, 14" or "3.1-3.2, 14.2 (labs 1 and 2)"."""
    found: set[int] = set()
    for part in re.sub(r"\([^)]*\)", "", spec).split(","):
        m = re.fullmatch(r"\s*(\d+)(?:\.\d+)?\s*(?:-\s*(\d+)(?:\.\d+)?\s*)?", part)
        if m:
            found.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return found


def test_section_numbers_reads_the_notations_in_use():
    assert section_numbers("2.5, 8.3, 8.6") == {2, 8}
    assert section_numbers("3-6, 14") == {3, 4, 5, 6, 14}
    assert section_numbers("3.1-3.2, 14.2 (labs 1 and 2)") == {3, 14}
    assert section_numbers("all") == set() and section_numbers("new") == set()


def section_urls(section: course.Section) -> set[str]:
    """Every page a section links to: its pages, its labs' result pages (and the list), its code's pages."""
    urls = {page_url(p) for p in section.pages} | {page_url(Page(c.page)) for c in section.code if c.page}
    urls |= {page_url(Page("ops:lab", args=(name,))) for name in section.labs}
    if section.labs:
        urls.add(page_url(Page("ops:labs")))
    return urls - {None}


# --- the data, against the project ---------------------------------------------------------------------------


def test_the_map_has_the_course_sixteen_sections_in_order():
    assert [s.number for s in SECTIONS] == list(range(1, 17))
    assert SECTIONS[15].title == "Tiếp theo" and SECTIONS[15].english == "Next"
    for s in SECTIONS:
        assert s.title and s.about, s.number
        # Each section says where it lives, or what was left out and why.
        assert s.pages or s.labs or s.commands or s.left_out, s.number
        assert all(x.what and x.why for x in s.left_out), s.number


def test_every_url_name_reverses_except_a_page_still_on_another_branch():
    pages = [p for s in SECTIONS for p in s.pages]
    pages += [Page(c.page) for s in SECTIONS for c in s.code if c.page]
    pages += [p for q in selfcheck.QUESTIONS for p in q.links.values()]
    for page in pages:
        if page.pending:
            continue  # linked once its URL name exists (below)
        assert page_url(page).startswith("/"), page


def test_a_pending_page_is_a_note_until_its_url_exists_then_a_link():
    missing = Page("lessons:not_merged_yet", "Somewhere", pending="issue #99, on its way")
    assert page_url(missing) is None
    assert str(course.link_html(missing)) == 'Somewhere <span class="muted">(issue #99, on its way)</span>'
    landed = Page("lessons:home", "Home", pending="issue #99, on its way")
    assert str(course.link_html(landed)) == '<a href="/">Home</a>'
    with pytest.raises(NoReverseMatch):  # a page that is not pending must exist
        page_url(Page("lessons:not_merged_yet"))


def test_every_use_case_is_on_the_map_under_each_section_it_names():
    by_number = {s.number: s for s in SECTIONS}
    for uc in USE_CASES:
        if not uc.url_name:
            continue
        for n in section_numbers(uc.section):
            assert uc.url in section_urls(by_number[n]), f"{uc.title} ({uc.url}) is not on the map under §{n}"


def test_every_lab_is_on_the_map_under_each_section_it_serves():
    by_number = {s.number: s for s in SECTIONS}
    named = {name for s in SECTIONS for name in s.labs}
    assert named <= set(LABS), named - set(LABS)
    for lab in LABS.values():
        sections = section_numbers(lab.section)
        assert sections, lab.name
        for n in sections:
            assert lab.name in by_number[n].labs, f"lab {lab.name} is not on the map under §{n}"
    # and every lab command of the project, including lab_streams (a command without a result page)
    commands = {c.line.split()[2] for s in SECTIONS for c in s.commands if c.line.startswith("python manage.py")}
    project_labs = {name for name in get_commands() if name.startswith("lab_")}
    assert project_labs == {f"lab_{name}" for name in LABS} | (commands & project_labs)


def test_every_file_and_test_the_map_names_exists():
    for s in SECTIONS:
        for code in s.code:
            assert (BASE / code.path).is_file(), code.path
        for test in s.tests:
            assert re.fullmatch(r"tests/([a-z_]+/)*test_[a-z_]+\.py", test), test
            assert (BASE / test).is_file(), test
    # Every framework-free pattern module is on the map somewhere.
    named = {c.path for s in SECTIONS for c in s.code}
    patterns = {f"redis_patterns/{p.name}" for p in (BASE / "redis_patterns").glob("*.py") if p.name != "__init__.py"}
    assert patterns <= named, sorted(patterns - named)


def test_every_command_the_map_gives_exists():
    compose = (BASE / "compose.yaml").read_text()
    makefile = (BASE / "Makefile").read_text()
    lines = [c.line for s in SECTIONS for c in s.commands]
    assert lines
    for line in lines:
        words = line.split() + [""]
        if words[:2] == ["python", "manage.py"]:
            assert words[2] in get_commands(), line
        elif words[:3] == ["python", "-m", "bench"]:
            assert (BASE / "bench" / f"{words[3]}.py").is_file(), line
        elif words[0] == "make":
            assert re.search(rf"^{re.escape(words[1])}:", makefile, re.M), line
        elif words[:2] == ["docker", "compose"]:
            files = [words[i + 1] for i, w in enumerate(words) if w == "-f"]
            assert all((BASE / f).is_file() for f in files), line
            for profile in (words[i + 1] for i, w in enumerate(words) if w == "--profile"):
                assert re.search(rf"profiles: \[[^\]]*\b{profile}\b", compose), line
        else:
            pytest.fail(f"the test does not know how to check {line!r}")


def test_code_is_linked_to_a_page_that_shows_it(client, django_user_model):
    """A file linked to a page appears there as shown code (the caption of ``{% source %}``)."""
    staff = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    staff_client = client.__class__()
    staff_client.force_login(staff)
    seen: dict[str, str] = {}
    for s in SECTIONS:
        for code in s.code:
            if not code.page:
                continue
            url = page_url(Page(code.page))
            anonymous = client.get(url)
            assert anonymous.status_code == (302 if code.staff else 200), (code, anonymous.status_code)
            if url not in seen:
                seen[url] = (staff_client if code.staff else client).get(url).content.decode()
            assert f"<figcaption>{code.path}</figcaption>" in seen[url], f"{url} does not show {code.path}"


def test_the_self_check_has_the_ten_questions_each_answered_with_links():
    assert [q.number for q in selfcheck.QUESTIONS] == list(range(1, 11))
    for q in selfcheck.QUESTIONS:
        labels = re.findall(r"\[([^\]]+)\]", q.answer)
        assert labels, f"question {q.number} links to nothing"
        assert set(labels) == set(q.links), (q.number, set(labels) ^ set(q.links))
        assert len(q.answer) < 1300, f"question {q.number}: a short paragraph, please ({len(q.answer)} chars)"
        assert set(q.labs) <= set(LABS)
        for name in q.labs:  # a lab summarised under an answer is one the answer links to
            assert Page("ops:lab", args=(name,)) in q.links.values(), (q.number, name)
        assert q.vi.endswith("?") and q.en.endswith("?")


# --- the pages, crawled ----------------------------------------------------------------------------------------


class Links(HTMLParser):
    """``<a href>`` of a page: its text, and the text right after it (where a "(staff)" marker may be)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self._open: dict[str, str] | None = None
        self._after: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            self._after = None
            self._open = {"href": dict(attrs).get("href") or "", "text": "", "after": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.links.append(self._open)
            self._after, self._open = self._open, None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data
        elif self._after is not None and len(self._after["after"]) < 20:
            self._after["after"] += data

    @staticmethod
    def marked_staff(link: dict[str, str]) -> bool:
        return "(staff)" in link["text"] or link["after"].lstrip().startswith("(staff)")


def links_of(html: str) -> list[dict[str, str]]:
    parser = Links()
    parser.feed(html)
    return parser.links


def crawl(html: str, status_of) -> set[str]:
    """Check every link of a page; returns the staff-only ones. ``status_of(path) -> (status, location)``."""
    links = links_of(html)
    assert len(links) > 20
    by_href: dict[str, list[dict[str, str]]] = {}
    for link in links:
        href = link["href"]
        if href.startswith("#"):
            assert f'id="{href[1:]}"' in html, href  # a link within the page lands somewhere
            continue
        assert href.startswith("/"), f"an outside or relative link: {href!r}"
        by_href.setdefault(href, []).append(link)
    staff_only = set()
    for href, found in by_href.items():
        status, location = status_of(href)
        if status == 302 and urlsplit(location).path == LOGIN:
            staff_only.add(href)
            unmarked = [link["text"] for link in found if not Links.marked_staff(link)]
            assert not unmarked, f"{href} is staff only but linked without '(staff)': {unmarked}"
        else:
            assert status == 200, f"{href} answered {status} {location}"
            marked = [link["text"] for link in found if Links.marked_staff(link)]
            assert not marked, f"{href} is public but marked '(staff)'"
    return staff_only


def test_the_course_map_and_the_self_check_answer_200_and_so_does_every_link(client):
    def status_of(path: str) -> tuple[int, str]:
        response = client.get(path)
        return response.status_code, response.get("Location", "")

    course_page = client.get("/course/")
    assert course_page.status_code == 200
    html = course_page.content.decode()
    assert crawl(html, status_of) == STAFF_ONLY_ON_COURSE
    for s in SECTIONS:
        assert f'id="s{s.number}"' in html
    assert "Tiếp theo" in html and "Not run on this site yet." in html

    check_page = client.get("/self-check/")
    assert check_page.status_code == 200
    html = check_page.content.decode()
    assert crawl(html, status_of) == STAFF_ONLY_ON_SELF_CHECK
    for q in selfcheck.QUESTIONS:
        assert f'id="q{q.number}"' in html and q.vi in html


def test_a_labs_last_run_shows_under_the_answers_it_backs(client, settings, tmp_path):
    """The self-check shows what the lab checked on its last run; the map counts the checks met."""
    settings.VAR_DIR = str(tmp_path)
    (tmp_path / "labs").mkdir()
    result = {"lab": "persistence", "started_at": "2026-05-16T10:00:00+00:00", "quick": True,
              "checks": [{"name": "AOF always loses 0 acknowledged writes", "ok": True, "detail": "9,000 acknowledged"},
                         {"name": "RDB only loses the writes since its last snapshot", "ok": False, "detail": ""}]}
    (tmp_path / "labs" / "persistence.json").write_text(json.dumps(result))

    html = client.get("/self-check/").content.decode()
    q2 = html.split('id="q2"')[1].split("</section>")[0]
    assert "last run 2026-05-16T10:00:00+00:00 with <code>--quick</code>" in q2
    assert "<strong>met</strong>: AOF always loses 0 acknowledged writes (9,000 acknowledged)" in q2
    assert "<strong>NOT met</strong>: RDB only loses the writes since its last snapshot" in q2
    q3 = html.split('id="q3"')[1].split("</section>")[0]
    assert "not run on this site yet" in q3 and "python manage.py lab_sentinel --quick" in q3

    html = client.get("/course/").content.decode()
    s4 = html.split('id="s4"')[1].split("</section>")[0]
    assert "Last run 2026-05-16T10:00:00+00:00" in s4 and "1 of 2 checks met" in s4


def test_both_pages_are_in_the_navigation_and_on_the_home_page(client):
    html = client.get("/").content.decode()
    menu = html.split('id="menu-course"')[1].split("</ul>")[0]
    assert 'href="/course/"' in menu and 'href="/self-check/"' in menu
    hero = html.split('<section class="hero">')[1].split("</section>")[0]
    assert 'href="/course/">course map</a>' in hero and 'href="/self-check/">self-check</a>' in hero


def test_every_link_answers_through_the_real_asgi_server(live_server_url):
    host, port = urlsplit(live_server_url).hostname, urlsplit(live_server_url).port

    def status_of(path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            conn.request("GET", path)  # not following redirects: a staff page must answer 302 itself
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("Location") or ""
        finally:
            conn.close()

    for page, staff_only in (("/course/", STAFF_ONLY_ON_COURSE), ("/self-check/", STAFF_ONLY_ON_SELF_CHECK)):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", page)
        response = conn.getresponse()
        html = response.read().decode()
        conn.close()
        assert response.status == 200, page
        assert crawl(html, status_of) == staff_only, page
