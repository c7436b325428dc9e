"""vhpi.decide.exclude_match: rsync's --exclude rules over relative paths."""

import pytest

from vhpi.decide.exclude_match import compile_excludes, compile_pattern, translate


@pytest.mark.parametrize("pattern, path, is_folder, excluded", [
    # a bare name matches the last component anywhere
    ("*.tmp", b"a.tmp", False, True),
    ("*.tmp", b"deep/er/a.tmp", False, True),
    ("*.tmp", b"a.tmp.txt", False, False),
    ("*.tmp", b"dir.tmp", True, True),
    ("cache", b"x/cache", True, True),
    ("cache", b"x/cache", False, True),
    ("cache", b"x/mycache", True, False),
    # a trailing slash: folders only
    ("cache/", b"cache", True, True),
    ("cache/", b"cache", False, False),
    ("cache/", b"sub/cache", True, True),
    # a leading slash: anchored at the top
    ("/top.txt", b"top.txt", False, True),
    ("/top.txt", b"dir/top.txt", False, False),
    ("/cache/", b"cache", True, True),
    ("/cache/", b"sub/cache", True, False),
    # a slash inside: matched at the end of the path, on a component boundary
    ("b/c", b"b/c", False, True),
    ("b/c", b"a/b/c", False, True),
    ("b/c", b"ab/c", False, False),
    ("a/*/c", b"a/x/c", False, True),
    ("a/*/c", b"a/x/y/c", False, False),
    ("a/**/c", b"a/x/y/c", False, True),
    ("**/c", b"c", False, False),
    ("**/c", b"x/c", False, True),
    # wildcards
    ("?.txt", b"a.txt", False, True),
    ("?.txt", b"ab.txt", False, False),
    ("secret*", b"dir/secret-notes.txt", False, True),
    ("[ab].txt", b"b.txt", False, True),
    ("[ab].txt", b"c.txt", False, False),
    ("[!ab].txt", b"c.txt", False, True),
    ("[!ab].txt", b"a.txt", False, False),
    ("\\*.txt", b"*.txt", False, True),
    ("\\*.txt", b"a.txt", False, False),
    ("dir/***", b"dir", True, True),
    ("dir/***", b"dir", False, False),
    # names that are not UTF-8 and regex characters in patterns
    ("*.bak", b"\xe9t\xe9.bak", False, True),
    ("a+b(c).txt", b"a+b(c).txt", False, True),
    ("new*", b"new\nline", False, True),
])
def test_one_pattern(pattern, path, is_folder, excluded):
    assert compile_excludes([pattern])(path, is_folder) is excluded


def test_several_patterns_and_none():
    excluded = compile_excludes(["*.tmp", "/cache/", ""])
    assert excluded(b"a.tmp", False) and excluded(b"cache", True)
    assert not excluded(b"keep.txt", False)
    assert not compile_excludes([])(b"anything", False)


@pytest.mark.parametrize("pattern", ["", "/", "//"])
def test_empty_patterns_match_nothing(pattern):
    assert compile_pattern(pattern) is None


@pytest.mark.parametrize("text, regex", [
    ("a*", "a[^/]*"),
    ("**", ".*"),
    ("a?", "a[^/]"),
    ("x.y", "x\\.y"),
    ("[]x]", "[]x]"),
])
def test_translate(text, regex):
    assert translate(text) == regex
