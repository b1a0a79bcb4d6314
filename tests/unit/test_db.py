"""db.Statement: a query compiled once per engine and shape, run with each call's values."""
from __future__ import annotations

import pytest
from peewee import SQL

from appliance.accounts.service import create_user
from appliance.db import Statement, database
from appliance.models import Account


@pytest.fixture
def users(app):
    return {login: create_user(login) for login in ("ada", "bob", "cy")}


class Compiles:
    """Counts how often peewee compiles a query in the block."""

    def __init__(self, monkeypatch):
        self.count = 0
        original = type(database.obj).get_sql_context

        def counting(db, *args, **kwargs):
            self.count += 1
            return original(db, *args, **kwargs)

        monkeypatch.setattr(type(database.obj), "get_sql_context", counting)


def test_a_statement_compiles_once_and_runs_with_each_calls_values(users, monkeypatch):
    by_login = Statement(lambda login: Account.select(Account.id).where(Account.lower_login == login).tuples())
    compiles = Compiles(monkeypatch)
    found = {login: by_login.rows(login) for login in ("ada", "bob", "cy", "nobody")}
    assert found == {"ada": [(users["ada"].id,)], "bob": [(users["bob"].id,)], "cy": [(users["cy"].id,)],
                     "nobody": []}
    assert compiles.count == 1


def test_lists_compile_once_per_length_and_run_each_time_with_their_items(users, monkeypatch):
    among = Statement(lambda ids: Account.select(Account.lower_login).where(Account.id.in_(ids))
                      .order_by(Account.lower_login).tuples())
    ada, bob, cy = (users[login].id for login in ("ada", "bob", "cy"))
    compiles = Compiles(monkeypatch)
    assert among.rows([ada, bob]) == [("ada",), ("bob",)]
    assert among.rows([cy, bob]) == [("bob",), ("cy",)]
    assert among.rows((cy,)) == [("cy",)]
    assert compiles.count == 2  # lengths 2 and 1


def test_a_statement_keeps_a_bounded_number_of_shapes(users, monkeypatch):
    monkeypatch.setattr("appliance.db.MAX_SHAPES", 3)
    among = Statement(lambda ids: Account.select(Account.id).where(Account.id.in_(ids)).tuples())
    for length in range(1, 8):
        assert len(among.rows(list(range(length)))) <= length
        assert len(among._compiled) <= 3
    assert among.rows([users["ada"].id]) == [(users["ada"].id,)]


def test_variants_are_compiled_apart(users):
    def build(variant, login):
        query = Account.select(Account.lower_login)
        return (query.where(Account.lower_login != login) if variant == "others"
                else query.where(Account.lower_login == login)).order_by(Account.lower_login).tuples()

    logins = Statement(build, variants=True)
    assert logins.rows("bob", variant="one") == [("bob",)]
    assert logins.rows("bob", variant="others") == [("ada",), ("cy",)]
    assert logins.execute("cy", variant="one").fetchall() == [("cy",)]


def test_model_rows_come_with_their_joins(users):
    account = Statement(lambda id: Account.select().where(Account.id == id))
    [row] = account.rows(users["bob"].id)
    assert isinstance(row, Account) and row.login == "bob"
    assert account.first(users["cy"].id).login == "cy"
    assert account.first(-1) is None


def test_a_builder_that_leaves_out_its_argument_is_refused(app):
    # It would run every later call with what it took from elsewhere: the first caller's values.
    everyone = Statement(lambda login: Account.select().where(SQL("1 = 1")))
    with pytest.raises(ValueError, match="used none of its arguments"):
        everyone.rows("ada")
