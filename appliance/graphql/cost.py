"""What one GraphQL request may ask for, as GitHub bounds it: every connection needs `first` or `last`
(1 to 100), the nodes a query could reach (the product of those along each path, summed) stay under
MAX_NODES, and depth, aliases and tokens are limited, so no request can load the whole database."""
from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

CONNECTIONS = frozenset({"packages", "versions", "files"})
MAX_PAGE = 100
MAX_NODES = 10_000
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000


def error(message: str, kind: str, node=None) -> GraphQLError:
    return GraphQLError(message, nodes=[node] if node is not None else None, extensions={"type": kind})


class NodeLimit(SchemaExtension):
    """Counts the nodes before execution (with the request's variables) and refuses the query whole."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            try:
                self._check(document, context.variables or {}, context.operation_name)
            except GraphQLError as refused:
                context.result = GraphQLExecutionResult(data=None, errors=[refused])
        yield

    def _check(self, document, variables: dict, operation_name: str | None) -> None:
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        for operation in operations:
            if operation_name and (operation.name is None or operation.name.value != operation_name):
                continue
            total = self._count(operation.selection_set, 1, fragments, variables, set())
            if total > MAX_NODES:
                raise error(f"This query requests up to {total:,} possible nodes which exceeds the maximum "
                            f"limit of {MAX_NODES:,}.", "MAX_NODE_LIMIT_EXCEEDED")

    def _count(self, selections: SelectionSetNode | None, multiplier: int, fragments: dict, variables: dict,
               seen: set[str]) -> int:
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                inner = multiplier
                if selection.name.value in CONNECTIONS:
                    inner = multiplier * self._page_size(selection, variables)
                    total += inner
                total += self._count(selection.selection_set, inner, fragments, variables, seen)
            elif isinstance(selection, InlineFragmentNode):
                total += self._count(selection.selection_set, multiplier, fragments, variables, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    total += self._count(fragment.selection_set, multiplier, fragments, variables,
                                         seen | {selection.name.value})
        return total

    @staticmethod
    def _page_size(field: FieldNode, variables: dict) -> int:
        sizes = {}
        for argument in field.arguments or ():
            if argument.name.value in ("first", "last"):
                value = argument.value
                if isinstance(value, VariableNode):
                    sizes[argument.name.value] = variables.get(value.name.value)
                elif isinstance(value, IntValueNode):
                    sizes[argument.name.value] = int(value.value)
        name = field.name.value
        given = [s for s in sizes.values() if s is not None]
        if not given:
            raise error(f"You must provide a `first` or `last` value to properly paginate the `{name}` "
                        f"connection.", "MISSING_PAGINATION_BOUNDARIES", field)
        for key, size in sizes.items():
            if size is not None and not 0 <= size <= MAX_PAGE:
                raise error(f"Requesting {size} records on the `{name}` connection exceeds the `{key}` limit "
                            f"of {MAX_PAGE} records.", "EXCESSIVE_PAGINATION", field)
        return max(given)
