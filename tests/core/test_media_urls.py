"""Signed media links: round trip, tampering, expiry, and one kind never opening the other."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from core.media_urls import (
    InvalidMediaLink,
    media_token,
    read_media_token,
    read_signed_path,
    signed_url,
)


def test_a_media_token_names_its_file_and_owner():
    claim = read_media_token(media_token("library/clip/abc.mp4", owner_id=7))
    assert (claim.name, claim.owner_id) == ("library/clip/abc.mp4", 7)


def test_a_media_token_is_url_safe_and_opaque():
    token = media_token("jobs/1/output/video.mp4", owner_id=1)
    assert "jobs/1" not in token and " " not in token and "?" not in token


@pytest.mark.parametrize("position", [0, 10, -5])
def test_a_tampered_token_is_refused(position):
    token = media_token("library/clip/abc.mp4", owner_id=7)
    chars = list(token)
    chars[position] = "A" if chars[position] != "A" else "B"
    with pytest.raises(InvalidMediaLink, match="not valid"):
        read_media_token("".join(chars))


def test_an_expired_token_is_refused():
    with pytest.raises(InvalidMediaLink, match="expired"):
        read_media_token(media_token("library/clip/abc.mp4", owner_id=7, ttl=-1))


def test_a_signed_url_opens_only_its_path():
    url = signed_url("/api/v1/library/clips/3/file", owner_id=2)
    parts = urlsplit(url)
    claim = read_signed_path(parse_qs(parts.query)["sig"][0])
    assert parts.path == claim.name == "/api/v1/library/clips/3/file" and claim.owner_id == 2


def test_the_two_kinds_do_not_open_each_other():
    url_signature = parse_qs(urlsplit(signed_url("/x", owner_id=1)).query)["sig"][0]
    with pytest.raises(InvalidMediaLink):
        read_media_token(url_signature)
    with pytest.raises(InvalidMediaLink):
        read_signed_path(media_token("/x", owner_id=1))


def test_the_same_object_gets_the_same_link_for_a_while(settings):
    """A polling page keeps its <img>/<video> sources (and the browser's cache)."""
    settings.MEDIA_URL_TTL = 24 * 3600
    first, again = signed_url("/x", owner_id=1), signed_url("/x", owner_id=1)
    assert first == again != signed_url("/x", owner_id=2)
    claim = read_signed_path(parse_qs(urlsplit(first).query)["sig"][0])
    assert (
        24 * 3600 - 5 <= claim.expires_at - time.time() <= 25 * 3600
    )  # rounded up, an hour at most
