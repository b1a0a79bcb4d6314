"""Reading a descriptor's XML (a pom, a .nuspec) by the local names of its elements."""
from __future__ import annotations

from xml.etree.ElementTree import Element


def local_name(tag: str) -> str:
    """An element's name without its namespace: '{http://maven.apache.org/POM/4.0.0}version' -> 'version'."""
    return tag.rsplit("}", 1)[-1]


class Children:
    """An element's child elements by local name, read in one pass. Looking each field up by scanning
    the children again made a descriptor of many elements (or one element of many children) cost
    seconds of a worker."""

    def __init__(self, element: Element | None) -> None:
        self.elements = [] if element is None else [c for c in element if isinstance(c.tag, str)]
        self.first: dict[str, Element] = {}
        for child in self.elements:
            self.first.setdefault(local_name(child.tag), child)

    def child(self, name: str) -> Element | None:
        """The first child named `name`, or None."""
        return self.first.get(name)

    def all(self, name: str) -> list[Element]:
        """Every child named `name`, in order."""
        return [c for c in self.elements if local_name(c.tag) == name]

    def text(self, name: str) -> str:
        """The first such child's text, stripped; '' when there is none."""
        child = self.first.get(name)
        return (child.text or "").strip() if child is not None else ""
