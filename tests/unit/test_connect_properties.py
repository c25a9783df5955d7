"""connect.properties reads .properties files as java.util.Properties.load does, so
`connect validate` resolves ${file:PATH:KEY} to what the worker's FileConfigProvider will.

The expected values follow the java.util.Properties.load documentation, one form per test."""
from __future__ import annotations

import pytest

from connect import properties, rest
from studentflow.core.errors import ConnectError


def test_the_three_separators_and_the_spaces_around_them():
    text = "a=1\nb = 2\nc:3\nd : 4\ne 5\nf\t\t6\ng   =   7\nh  :8\n"
    assert properties.loads(text) == {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8"}


def test_only_the_first_separator_splits_and_the_value_keeps_the_rest():
    assert properties.loads("url=jdbc:sqlite:/x?a=b\nk: v=w:z\nsp  =  = x\n") == \
        {"url": "jdbc:sqlite:/x?a=b", "k": "v=w:z", "sp": "= x"}


def test_key_alone_empty_value_and_trailing_whitespace_kept():
    assert properties.loads("alone\nempty=\n   indented = v  \n") == {"alone": "", "empty": "", "indented": "v  "}


def test_comments_and_blank_lines():
    text = "# a comment\n! another\n   # indented comment\n\n  \t\nkey=v # not a comment\n"
    assert properties.loads(text) == {"key": "v # not a comment"}


def test_continuation_lines_drop_the_next_lines_leading_whitespace():
    text = "fruits = apple, banana, \\\n         pear, \\\n\tplum\nnext=1\n"
    assert properties.loads(text) == {"fruits": "apple, banana, pear, plum", "next": "1"}


def test_an_even_number_of_backslashes_does_not_continue():
    assert properties.loads("path=C:\\\\dir\\\\\nnext=1\n") == {"path": "C:\\dir\\", "next": "1"}


def test_a_continued_line_starting_with_hash_is_value_and_a_comment_never_continues():
    assert properties.loads("k=a\\\n#b\n# c \\\nd=1\n") == {"k": "a#b", "d": "1"}


def test_a_backslash_at_the_end_of_the_file_is_dropped():
    assert properties.loads("k=v\\") == {"k": "v"}


def test_escapes_in_keys_and_values():
    text = "key\\ with\\=seps\\:=v\nu=caf\\u00e9 \\u00C9\nctl=a\\tb\\nc\\rd\\fe\nother=\\q\\#\\!\\\\\n"
    assert properties.loads(text) == {"key with=seps:": "v", "u": "café É", "ctl": "a\tb\nc\rd\fe",
                                      "other": "q#!\\"}


def test_line_endings_and_the_last_value_wins():
    assert properties.loads("a=1\r\nb=2\rc=3\na=4") == {"a": "4", "b": "2", "c": "3"}


def test_a_malformed_unicode_escape_is_refused_with_its_line():
    with pytest.raises(properties.PropertiesError, match=r"line 2: malformed \\uxxxx escape: \\u12G4"):
        properties.loads("ok=1\nbad=\\u12G4\n")


def test_file_references_resolve_with_every_form(tmp_path):
    secrets = tmp_path / "secrets.properties"
    secrets.write_text("# worker secrets\nuser: alice\npassword  s3cr\\\n   et\nurl=http://h:8083/\n"
                       "name=Zoé\n", encoding="utf-8")
    resolved = {k: rest.resolve(f"${{file:{secrets}:{k}}}", {}) for k in ("user", "password", "url", "name")}
    assert resolved == {"user": "alice", "password": "s3cret", "url": "http://h:8083/", "name": "Zoé"}
    assert rest.resolve(f"${{file:{secrets}:missing}}", {}) == f"${{file:{secrets}:missing}}"  # left to the worker


def test_file_references_to_bad_files_say_what_to_do(tmp_path):
    latin = tmp_path / "latin.properties"
    latin.write_bytes("name=Zo\u00e9\n".encode("latin-1"))   # FileConfigProvider reads UTF-8 only
    with pytest.raises(ConnectError, match="is not UTF-8") as err:
        rest.resolve(f"${{file:{latin}:name}}", {})
    assert "UTF-8" in err.value.hint
    bad = tmp_path / "bad.properties"
    bad.write_text("k=\\uZZZZ\n", encoding="utf-8")
    with pytest.raises(ConnectError, match="line 1: malformed"):
        rest.resolve(f"${{file:{bad}:k}}", {})


def test_a_line_that_is_only_a_continuation_is_no_line_unless_the_file_ends_there():
    assert properties.loads("\\\n# comment after it\nk=v\n") == {"k": "v"}
    assert properties.loads("  \\\n\nk=v\n") == {"k": "v"}
    assert properties.loads("k=v\n\\") == {"k": "v", "": ""}
