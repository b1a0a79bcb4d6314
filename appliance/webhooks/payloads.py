"""The bodies GitHub sends: `ping` on a hook's creation and `package` (published, updated)."""
from __future__ import annotations

from appliance.github.shapes import (
    PACKAGE_TYPES,
    account_summary,
    minimal_repository,
    organization_summary,
    owner_summary,
    package_html_url,
    simple_user,
)
from appliance.github.urls import timestamp, web_origin
from appliance.models.accounts import Account

REGISTRY_NAMES = {"npm": "GitHub npm registry", "rubygems": "GitHub RubyGems registry",
                  "maven": "GitHub Maven registry", "nuget": "GitHub NuGet registry",
                  "docker": "GitHub Container registry"}
ZEN = "Keep it logically awesome."


def _installation_command(package, version) -> str:
    name, ver = package.name, version.version
    return {
        "npm": f"npm install {name}@{ver}",
        "rubygems": f"gem install {name} --version {ver}",
        "maven": f"<dependency><groupId>{name.partition(':')[0]}</groupId><artifactId>"
                 f"{name.partition(':')[2]}</artifactId><version>{ver}</version></dependency>",
        "nuget": f"dotnet add package {name} --version {ver}",
        "docker": f"docker pull {name}@{ver}" if ver.startswith("sha256:") else f"docker pull {name}:{ver}",
    }[package.format]


def _file(file, version_html: str) -> dict:
    created = timestamp(file.created_at)
    return {
        "download_url": f"{version_html}/files/{file.id}",
        "id": file.id,
        "name": file.name,
        "sha256": file.sha256,
        "sha1": None,
        "md5": None,
        "content_type": file.content_type,
        "state": "uploaded",
        "size": file.size,
        "created_at": created,
        "updated_at": created,
    }


def package_version_payload(package, version, sender: dict | None) -> dict:
    html = f"{package_html_url(package)}/versions/{version.id}"
    shape = {
        "id": version.id,
        "version": version.version,
        "name": version.version,
        "summary": version.summary or "",
        "description": version.summary or "",
        "body": version.readme or "",
        "body_html": "",
        "html_url": html,
        "target_commitish": "",
        "target_oid": "",
        "draft": False,
        "prerelease": bool(version.prerelease),
        "created_at": timestamp(version.created_at),
        "updated_at": timestamp(version.updated_at),
        "metadata": [],
        "package_files": [_file(f, html) for f in version.files],
        "package_url": package_html_url(package),
        "author": sender,
        "installation_command": _installation_command(package, version),
    }
    if package.format == "docker":
        shape["container_metadata"] = {"tag": {"name": version.tags[0] if version.tags else "",
                                               "digest": version.version},
                                       "labels": None, "manifest": None}
    if package.format == "npm":
        shape["npm_metadata"] = {"name": package.name, "version": version.version,
                                 "dist_tags": [t for t, v in package.tags.items() if v == version.version]}
    return shape


def package_payload(action: str, package, version, *, sender: Account | None, repository_shape: dict,
                    organization) -> dict:
    """A `package` event: `action` is published or updated."""
    sender_shape = account_summary(sender) if sender is not None else None
    created = timestamp(package.created_at)
    payload = {
        "action": action,
        "package": {
            "id": package.id,
            "name": package.name,
            "namespace": package.owner.login,
            "description": version.summary if version is not None and version.summary else None,
            "ecosystem": PACKAGE_TYPES[package.format],
            "package_type": PACKAGE_TYPES[package.format],
            "html_url": package_html_url(package),
            "created_at": created,
            "updated_at": timestamp(package.updated_at),
            "owner": owner_summary(package.owner),
            "package_version": (package_version_payload(package, version, sender_shape)
                                if version is not None else None),
            "registry": {
                "about_url": "https://docs.github.com/enterprise-server/packages",
                "name": REGISTRY_NAMES[package.format],
                "type": PACKAGE_TYPES[package.format],
                "url": f"{web_origin()}/{package.owner.login}",
                "vendor": "GitHub Inc",
            },
        },
        "repository": repository_shape,
        "sender": sender_shape,
    }
    if organization is not None:
        payload["organization"] = _organization_summary(organization)
    return payload


def _organization_summary(org) -> dict:
    """An organization (an Account or the read model's OwnerView) as GitHub's `organization-simple`."""
    return organization_summary(org.login, org.id)


def repository_view_payload(repository) -> dict:
    """The read model's RepositoryView as GitHub's `repository` of a payload."""
    return minimal_repository(repository.id, owner_summary(repository.owner), repository.name,
                              repository.visibility)


def repository_payload(repository) -> dict:
    owner = repository.owner
    return minimal_repository(repository.id, simple_user(owner.login, owner.id,
                                                         organization=owner.is_organization),
                              repository.name, repository.visibility, repository.description)


def ping_payload(hook_shape: dict, *, repository_shape: dict | None, organization: Account | None,
                 sender: Account | None) -> dict:
    payload = {"zen": ZEN, "hook_id": hook_shape["id"], "hook": hook_shape}
    if repository_shape is not None:
        payload["repository"] = repository_shape
    if organization is not None:
        payload["organization"] = _organization_summary(organization)
    if sender is not None:
        payload["sender"] = account_summary(sender)
    return payload
