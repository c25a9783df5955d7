"""connect.properties against the real java.util.Properties: the same files, read by the JVM the
Connect worker runs on (UTF-8, as Kafka's FileConfigProvider reads them), give the same pairs.

The Java side is a small source file run by `java` itself (source-file mode, JDK 11+); the cases
are the documented forms plus reproducible random mixes of separators, blanks, backslashes,
comment marks and line endings."""
from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from connect import properties

pytestmark = pytest.mark.slow

JAVA_READER = r"""
import java.io.Reader; import java.nio.charset.StandardCharsets; import java.nio.file.*; import java.util.*;
public class ReadProperties {
    public static void main(String[] files) throws Exception {
        for (String f : files) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(Path.of(f), StandardCharsets.UTF_8)) { p.load(r); }
            catch (IllegalArgumentException e) { System.out.println("ERROR"); continue; }
            StringBuilder out = new StringBuilder("{");
            for (String k : new TreeSet<>(p.stringPropertyNames())) {
                out.append(out.length() > 1 ? "," : "").append(quote(k)).append(':').append(quote(p.getProperty(k)));
            }
            System.out.println(out.append('}'));
        }
    }
    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
"""
DOCUMENTED = [
    "a=1\nb = 2\nc:3\nd : 4\ne 5\nf\t\t6\n", "url=jdbc:sqlite:/x?a=b\nk: v=w:z\nsp  =  = x\n",
    "alone\nempty=\n   indented = v  \n", "# c\n! c\n   # c\n\n  \t\nkey=v # not a comment\n",
    "fruits = apple, banana, \\\n         pear, \\\n\tplum\n", "path=C:\\\\dir\\\\\nnext=1\n",
    "k=a\\\n#b\n# c \\\nd=1\n", "k=v\\", "key\\ with\\=seps\\:=v\nu=caf\\u00e9\nctl=a\\tb\\nc\nother=\\q\\#\\\\\n",
    "a=1\r\nb=2\rc=3\na=4", "\\\n# after\nk=v\n", "k=v\n\\", "k=\\u12G4\n", "name=Zoé, ünïcödé: 東京\n",
]
PIECES = ["a", "k", "=", ":", " ", "\t", "\f", "\\", "\\", "\n", "\r", "\r\n", "#", "!", "é", "u", "\\u0041"]


def _cases() -> list[str]:
    rnd = random.Random(20261204)
    return DOCUMENTED + ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 30))) for _ in range(500)]


def _python(text: str) -> dict[str, str] | str:
    try:
        return properties.loads(text)
    except properties.PropertiesError:
        return "ERROR"


def test_same_pairs_as_java_util_properties(tmp_path):
    java = shutil.which("java")
    assert java, "java is on PATH after setup (openjdk-17-jre-headless)"
    (tmp_path / "ReadProperties.java").write_text(JAVA_READER, encoding="utf-8")
    cases = _cases()
    files = []
    for i, text in enumerate(cases):
        f = tmp_path / f"{i}.properties"
        f.write_bytes(text.encode("utf-8"))
        files.append(str(f))
    proc = subprocess.run([java, str(tmp_path / "ReadProperties.java"), *files], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answers = proc.stdout.splitlines()
    assert len(answers) == len(cases)
    differ = []
    for text, answer in zip(cases, answers):
        expected = answer if answer == "ERROR" else json.loads(answer)
        if _python(text) != expected:
            differ.append((text, expected, _python(text)))
    assert not differ, f"{len(differ)} of {len(cases)} differ from Java, e.g. {differ[:3]}"
    assert sum(a == "ERROR" for a in answers) < len(cases) / 2   # most cases are pairs, not errors
