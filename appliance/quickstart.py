"""What `appliance init` prints for a first publish: one ready-to-paste client configuration per format for
the appliance as it is configured now (its host name, the port it serves on, the admin and a token).

The README's format sections show the same configurations; tests/readme checks both against the clients.
"""
from __future__ import annotations

from appliance.formats.routing import REGISTRY_PREFIX

FIRST_REPOSITORY = "hello"


def serve_address(bind: str, hostname: str) -> tuple[str, int]:
    """(host, port) clients use for an appliance served on `bind` (HOST:PORT): the host name, unless it
    binds one address that is not a wildcard or loopback one."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::", "127.0.0.1", "::1", "localhost"):
        host = hostname
    return host, int(port or 80)


def client_configurations(*, host: str, port: int, owner: str, token: str, appliance: str) -> str:
    """The quick start for `owner` with `token` against http://HOST:PORT, `appliance` being how to run the
    appliance command (`.venv/bin/appliance`, with --home when needed)."""
    origin = f"http://{host}:{port}"
    registry = f"{origin}{REGISTRY_PREFIX}"
    repository = f"{owner}/{FIRST_REPOSITORY}"
    return f"""\
Packages belong to a repository: make one first (private: only you and who you grant see its packages;
public: anyone may install them):
  {appliance} repos create {repository} --visibility private

npm: a project-local .npmrc, next to package.json (package name @{owner}/{FIRST_REPOSITORY}):
  @{owner}:registry={registry}/npm/
  //{host}:{port}{REGISTRY_PREFIX}/npm/:_authToken={token}
then `npm publish` and `npm install @{owner}/{FIRST_REPOSITORY}`.

RubyGems (a gem named {FIRST_REPOSITORY}, or metadata "github_repo" => "{repository}" in the gemspec):
  GEM_HOST_API_KEY={token} gem push {FIRST_REPOSITORY}-1.0.0.gem --host {registry}/rubygems/{owner}
  gem install {FIRST_REPOSITORY} --source http://{owner}:{token}@{host}:{port}{REGISTRY_PREFIX}/rubygems/{owner}/
Bundler: source "{registry}/rubygems/{owner}/" in the Gemfile, and
  export BUNDLE_{_bundler_host(host)}={owner}:{token}

Maven: in ~/.m2/settings.xml (or a file passed with -s)
  <settings><servers><server><id>appliance</id><username>{owner}</username><password>{token}</password></server></servers></settings>
  mvn deploy -DaltDeploymentRepository=appliance::{registry}/maven/{repository}
to resolve: <repository><id>appliance</id><url>{registry}/maven/{repository}</url></repository> in the pom.

NuGet: a NuGet.Config one level above the folder you pack, never in it (a pushed package holding a token is refused)
  <configuration>
    <packageSources><clear /><add key="appliance" value="{registry}/nuget/{owner}/index.json" /></packageSources>
    <packageSourceCredentials><appliance><add key="Username" value="{owner}" /><add key="ClearTextPassword" value="{token}" /></appliance></packageSourceCredentials>
  </configuration>
  nuget push Hello.1.0.0.nupkg -Source appliance -ApiKey {token} -ConfigFile ../NuGet.Config
with <repository type="git" url="{origin}/{repository}" /> in the .nuspec.

Docker / OCI: the registry is docker.{host}:{port} (include the port). Make the name resolve on the client,
e.g. one line in /etc/hosts:  127.0.0.1 docker.{host}
  skopeo copy --dest-tls-verify=false --dest-creds {owner}:{token} oci:DIR:1.0 docker://docker.{host}:{port}/{repository}/app:1.0
  (docker: list docker.{host}:{port} under "insecure-registries" in /etc/docker/daemon.json, then docker login)
"""


def _bundler_host(host: str) -> str:
    """Bundler's variable for credentials of a host: dots as __, dashes as ___, upper case (no port)."""
    return host.replace("-", "___").replace(".", "__").upper()
