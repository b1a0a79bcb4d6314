"""Users, organizations and repositories (accounts/service.py): GitHub's naming rules, names taken once
case-insensitively, roles, and each refusal as its own named error."""
from __future__ import annotations

import pytest

from appliance.accounts.service import (
    AccountError,
    AccountNotFound,
    InvalidChoice,
    InvalidName,
    NameTaken,
    RepositoryNotFound,
    WrongAccountKind,
    add_member,
    check_password,
    create_organization,
    create_repository,
    create_user,
    find_account,
    find_repository,
    get_account,
    get_repository,
    get_user,
    grant,
    set_password,
    split_full_name,
)
from appliance.models.accounts import Account


@pytest.mark.parametrize("login", ["a", "alice", "Alice-1", "a-b-c", "x" * 39])
def test_logins_by_githubs_rules(app, login):
    assert create_user(login).login == login


@pytest.mark.parametrize("login", ["", "-alice", "alice-", "al--ice", "al_ice", "al.ice", "x" * 40, "é"])
def test_other_logins_are_refused(app, login):
    with pytest.raises(InvalidName, match="invalid name"):
        create_user(login)


def test_a_name_is_taken_once_whatever_its_case(app):
    alice = create_user("alice")
    with pytest.raises(NameTaken, match="'ALICE' is already taken"):
        create_user("ALICE")
    with pytest.raises(NameTaken):
        create_organization("Alice", alice)
    assert find_account("ALICE") == alice
    assert get_account("Alice") == alice
    with pytest.raises(AccountNotFound, match="no user or organization named 'bob'"):
        get_account("bob")


def test_users_and_organizations_are_not_interchangeable(app):
    alice = create_user("alice")
    acme = create_organization("acme", alice)
    with pytest.raises(WrongAccountKind, match="acme is an organization, not a user"):
        get_user("acme")
    with pytest.raises(WrongAccountKind, match="alice is a user, not an organization"):
        add_member(alice, alice)
    with pytest.raises(WrongAccountKind, match="grant roles to users"):
        grant(create_repository(alice, "lib"), acme, "read")


def test_members_and_their_roles(app):
    alice, bob = create_user("alice"), create_user("bob")
    acme = create_organization("acme", alice)
    assert add_member(acme, bob).role == "member"
    assert add_member(acme, bob, "owner").role == "owner"
    with pytest.raises(InvalidChoice, match="owner or member"):
        add_member(acme, bob, "admin")


def test_repositories(app):
    alice = create_user("alice")
    lib = create_repository(alice, "my.lib_2-x", "private", "a library")
    assert (lib.visibility, lib.description) == ("private", "a library")
    assert find_repository("ALICE", "MY.LIB_2-X") == lib
    assert get_repository("alice/my.lib_2-x") == lib
    with pytest.raises(NameTaken, match="alice/My.Lib_2-x already exists"):
        create_repository(alice, "My.Lib_2-x")
    for name in ("", ".", "..", "a b", "a/b", "x" * 101):
        with pytest.raises(InvalidName, match="invalid repository name"):
            create_repository(alice, name)
    with pytest.raises(InvalidChoice, match="visibility is one of"):
        create_repository(alice, "other", "secret")
    with pytest.raises(RepositoryNotFound, match="no repository alice/nope"):
        get_repository("alice/nope")


@pytest.mark.parametrize("full_name", ["alice", "alice/", "/lib", "alice/lib/x", ""])
def test_full_names_are_owner_slash_name(full_name):
    with pytest.raises(InvalidName, match="expected OWNER/NAME"):
        split_full_name(full_name)


def test_grants_change_a_role_in_place(app):
    alice, bob = create_user("alice"), create_user("bob")
    lib = create_repository(alice, "lib")
    first = grant(lib, bob, "read")
    assert grant(lib, bob, "admin").id == first.id
    assert grant(lib, bob, "admin").role == "admin"
    with pytest.raises(InvalidChoice, match="a repository role is one of"):
        grant(lib, bob, "owner")


def test_passwords_and_the_sessions_a_new_one_ends(app):
    alice = create_user("alice", password="first password")
    assert check_password(alice, "first password") and not check_password(alice, "other")
    epoch = alice.session_epoch
    set_password(alice, "second password")
    alice = Account.get_by_id(alice.id)
    assert check_password(alice, "second password") and not check_password(alice, "first password")
    assert alice.session_epoch == epoch + 1
    assert not check_password(create_user("nopassword"), "")


def test_account_errors_are_not_value_errors():
    """The CLI answers AccountError in a line; a ValueError is a bug and keeps its traceback."""
    assert not issubclass(AccountError, ValueError)
    for error in (NameTaken, InvalidName, InvalidChoice, WrongAccountKind, AccountNotFound, RepositoryNotFound):
        assert issubclass(error, AccountError)
