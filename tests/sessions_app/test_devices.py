"""Device names from user agents, as "Your sessions" shows them."""

import pytest

from sessions_app.devices import device_name


@pytest.mark.parametrize(("ua", "name"), [
    ("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "Firefox on Linux"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 "
     "Safari/537.36 Edg/140.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 "
     "Safari/605.1.15", "Safari on macOS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "CriOS/140.0 Mobile/15E148 Safari/604.1", "Chrome on iOS"),
    ("Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Mobile "
     "Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0 Safari/537.36",
     "Headless Chrome on Linux"),
    ("curl/8.14.1", "curl"),
    ("python-requests/2.32", "Python"),
    ("", "Unknown device"),
    ("something else entirely", "Unknown device"),
])
def test_device_name(ua, name):
    assert device_name(ua) == name


def test_a_pickle_session_serializer_is_refused(settings):
    from sessions_app.checks import check_session_serializer

    assert check_session_serializer() == []
    settings.SESSION_SERIALIZER = "myproject.serializers.PickleSerializer"
    assert [e.id for e in check_session_serializer()] == ["sessions_app.E001"]
