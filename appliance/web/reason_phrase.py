"""Messages in the status line, for clients that print its reason phrase and never the body (mvn,
gradle, nuget)."""
from __future__ import annotations


def reason_phrase(message: str) -> str:
    """`message` on one latin-1 line of printable characters (a status line allows no control
    character), short enough for any client's status line."""
    line = "".join(c if c.isprintable() else "?" for c in " ".join(message.split()))
    return line.encode("latin-1", errors="replace").decode("latin-1")[:400]
