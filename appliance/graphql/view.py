"""HOSTNAME/api/graphql: the strawberry view, with the caller from their token (GitHub's GraphQL API
takes no anonymous calls) and errors carrying GitHub's `type`."""
from __future__ import annotations

from flask import Flask, jsonify, request
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.flask.views import GraphQLView
from strawberry.schema.config import StrawberryConfig

from appliance.api.errors import BAD_CREDENTIALS
from appliance.auth.credentials import BadCredentials, actor_from_request
from appliance.graphql import cost
from appliance.graphql.schema import SCALARS, Mutation, Query

GRAPHQL_DOCUMENTATION_URL = "https://docs.github.com/enterprise-server/graphql"


def build_schema():
    import strawberry

    return strawberry.Schema(query=Query, mutation=Mutation, config=StrawberryConfig(scalar_map=SCALARS), extensions=[
        lambda: QueryDepthLimiter(max_depth=cost.MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=cost.MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=cost.MAX_TOKENS),
        cost.NodeLimit,
    ])


class ApplianceGraphQLView(GraphQLView):
    def get_context(self, request, response):
        return {"actor": request.environ["appliance.graphql_actor"], "request": request}

    def process_result(self, request, result):
        data: dict = {"data": result.data}
        if result.errors:
            errors = []
            for error in result.errors:
                formatted = error.formatted
                kind = (error.extensions or {}).get("type")
                if kind:
                    formatted = {"type": kind, **formatted}
                    formatted.pop("extensions", None)
                errors.append(formatted)
            data["errors"] = errors
        return data


def _error(status: int, message: str):
    response = jsonify({"message": message, "documentation_url": GRAPHQL_DOCUMENTATION_URL})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    view = ApplianceGraphQLView.as_view("graphql", schema=build_schema(), graphql_ide=None,
                                        allow_queries_via_get=False)

    def graphql():
        try:
            actor = actor_from_request(request)
        except BadCredentials:
            return _error(401, BAD_CREDENTIALS)
        if actor.is_anonymous:
            return _error(401, "This endpoint requires you to be authenticated.")
        request.environ["appliance.graphql_actor"] = actor
        response = view()
        if actor.scopes is not None:
            response.headers["X-OAuth-Scopes"] = ", ".join(sorted(actor.scopes))
        return response

    app.add_url_rule("/api/graphql", "graphql", graphql, methods=["POST"])
