"""The JSON shapes of GitHub's REST API for the objects the appliance has: users, organizations,
repositories (packages' shapes are in `packages.py`)."""
from __future__ import annotations

from appliance.auth.permissions import repository_role
from appliance.github.urls import api_root, node_id, segment, timestamp, web_origin
from appliance.models.accounts import Account
from appliance.models.repositories import ADMIN, PRIVATE, PUBLIC, READ, WRITE, Repository

AVATAR_SIZE = 460


def simple_user(login: str, ident: int, *, organization: bool, site_admin: bool = False) -> dict:
    """GitHub's `simple-user` (owners, senders, package owners)."""
    api = f"{api_root()}/users/{login}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id("Organization" if organization else "User", ident),
        "avatar_url": f"{web_origin()}/identicons/{login}.png",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{web_origin()}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "Organization" if organization else "User",
        "site_admin": site_admin,
    }


def account_summary(account: Account) -> dict:
    return simple_user(account.login, account.id, organization=account.is_organization,
                       site_admin=bool(account.site_admin))


def public_repository_count(account: Account) -> int:
    return Repository.select().where((Repository.owner == account.id) & (Repository.visibility == PUBLIC)).count()


def user_detail(account: Account) -> dict:
    """`/users/USER` (`public-user`), and `/user` for the caller itself."""
    return {
        **account_summary(account),
        "name": None,
        "company": None,
        "blog": "",
        "location": None,
        "email": account.email,
        "hireable": None,
        "bio": None,
        "public_repos": public_repository_count(account),
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": timestamp(account.created_at),
        "updated_at": timestamp(account.created_at),
    }


def organization_summary(login: str, ident: int) -> dict:
    """GitHub's `organization-simple` (a webhook payload's `organization`)."""
    api = f"{api_root()}/orgs/{login}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id("Organization", ident),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{web_origin()}/identicons/{login}.png",
        "description": None,
    }


def organization_detail(org: Account) -> dict:
    """`/orgs/ORG` (`organization-full`)."""
    return {
        **organization_summary(org.login, org.id),
        "name": None,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "is_verified": False,
        "has_organization_projects": False,
        "has_repository_projects": False,
        "public_repos": public_repository_count(org),
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "html_url": f"{web_origin()}/{org.login}",
        "created_at": timestamp(org.created_at),
        "updated_at": timestamp(org.created_at),
        "type": "Organization",
    }


def minimal_repository(ident: int, owner: dict, name: str, visibility: str, description: str = "") -> dict:
    """GitHub's `minimal-repository` (a package's repository, a webhook's)."""
    full_name = f"{owner['login']}/{name}"
    api = f"{api_root()}/repos/{full_name}"
    return {
        "id": ident,
        "node_id": node_id("Repository", ident),
        "name": name,
        "full_name": full_name,
        "private": visibility != PUBLIC,
        "visibility": visibility,
        "owner": owner,
        "html_url": f"{web_origin()}/{full_name}",
        "description": description or None,
        "fork": False,
        "url": api,
        "hooks_url": f"{api}/hooks",
    }


def repository_detail(repository: Repository, viewer: Account | None) -> dict:
    """`/repos/OWNER/REPO` (`full-repository`, the fields a repository without git has), with the
    viewer's `permissions` when signed in."""
    shape = minimal_repository(repository.id, account_summary(repository.owner), repository.name,
                               repository.visibility, repository.description)
    created = timestamp(repository.created_at)
    shape.update({
        "created_at": created,
        "updated_at": created,
        "pushed_at": None,
        "archived": False,
        "disabled": False,
        "default_branch": "main",
        "has_packages": True,
        "packages_url": f"{web_origin()}/{repository.full_name}/packages",
    })
    if repository.owner.is_organization:
        shape["organization"] = account_summary(repository.owner)
    if viewer is not None:
        role = repository_role(viewer, repository)
        shape["permissions"] = {
            "admin": role == ADMIN,
            "maintain": role == ADMIN,
            "push": role in (WRITE, ADMIN),
            "triage": role in (WRITE, ADMIN),
            "pull": role in (READ, WRITE, ADMIN) or repository.visibility != PRIVATE,
        }
    return shape


# ---- packages (from the read model's PackageView and VersionView) ------------------------------------

# GitHub calls images of its container registry `container`; `docker` is accepted as another name.
PACKAGE_TYPES = {"npm": "npm", "rubygems": "rubygems", "maven": "maven", "nuget": "nuget", "docker": "container"}
FORMAT_OF_TYPE = {**{t: f for f, t in PACKAGE_TYPES.items()}, "docker": "docker"}


def owner_summary(owner) -> dict:
    """A package owner (`OwnerView`) as a `simple-user`."""
    return simple_user(owner.login, owner.id, organization=owner.kind == "organization")


def owner_path(owner) -> str:
    return f"/{'orgs' if owner.kind == 'organization' else 'users'}/{owner.login}"


def package_api_url(package) -> str:
    return (f"{api_root()}{owner_path(package.owner)}/packages/{PACKAGE_TYPES[package.format]}/"
            f"{segment(package.name)}")


def package_html_url(package) -> str:
    return f"{web_origin()}{owner_path(package.owner)}/packages/{package.format}/package/{segment(package.name)}"


def package_shape(package) -> dict:
    """GitHub's `package`."""
    repository = package.repository
    owner = owner_summary(package.owner)
    return {
        "id": package.id,
        "name": package.name,
        "package_type": PACKAGE_TYPES[package.format],
        "owner": owner,
        "version_count": package.version_count,
        "visibility": repository.visibility,
        "url": package_api_url(package),
        "created_at": timestamp(package.created_at),
        "updated_at": timestamp(package.updated_at),
        "repository": minimal_repository(repository.id, owner, repository.name, repository.visibility),
        "html_url": package_html_url(package),
    }


def version_metadata(version) -> dict:
    package_type = PACKAGE_TYPES[version.package.format]
    metadata: dict = {"package_type": package_type}
    if package_type == "container":
        metadata["container"] = {"tags": list(version.tags)}
    return metadata


def version_shape(version) -> dict:
    """GitHub's `package-version`."""
    package = version.package
    shape = {
        "id": version.id,
        "name": version.version,
        "url": f"{package_api_url(package)}/versions/{version.id}",
        "package_html_url": package_html_url(package),
        "html_url": f"{package_html_url(package)}/versions/{version.id}",
        "license": version.license,
        "description": version.summary or None,
        "created_at": timestamp(version.created_at),
        "updated_at": timestamp(version.updated_at),
        "metadata": version_metadata(version),
    }
    if version.deleted_at is not None:
        shape["deleted_at"] = timestamp(version.deleted_at)
    return shape
