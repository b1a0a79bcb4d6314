"""GitHub's pagination: `page` and `per_page` (30 by default, at most 100) and a `Link` header with
the first, prev, next and last pages."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from appliance.github.urls import web_origin

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def _int_arg(name: str, default: int) -> int:
    text = request.args.get(name, "")
    return int(text) if text.isdigit() else default


def per_page_arg() -> int:
    return min(max(_int_arg("per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)


def page_arg() -> int:
    return max(_int_arg("page", 1), 1)


def link_header(rels: dict[str, dict]) -> str:
    """`<URL>; rel="next", ...`: this request's URL with each rel's parameters put in."""
    links = []
    for rel, params in rels.items():
        args = {**request.args.to_dict(), **{k: str(v) for k, v in params.items()}}
        links.append(f'<{web_origin()}{request.path}?{urlencode(args)}>; rel="{rel}"')
    return ", ".join(links)


def page_links(page: int, per_page: int, total: int) -> str | None:
    last = max((total + per_page - 1) // per_page, 1)
    rels: dict[str, dict] = {}
    if page > 1:
        rels["prev"] = {"page": min(page - 1, last), "per_page": per_page}
    if page < last:
        rels["next"] = {"page": page + 1, "per_page": per_page}
        rels["last"] = {"page": last, "per_page": per_page}
    if page > 1:
        rels["first"] = {"page": 1, "per_page": per_page}
    return link_header(rels) if rels else None
