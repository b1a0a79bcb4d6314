"""GitHub's own CLI against the appliance behind nginx with a test CA (Debian's gh): the REST packages
endpoints with pagination, a version got, deleted and restored, a GraphQL query for a repository's
packages and their downloads, the same calls with a token short of a scope; and `package` webhooks
from a real `npm publish` and a `docker push` (skopeo) reaching a receiver that checks the signature."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.hook_receiver import Receiver
from tests.support.live import LiveAppliance
from tests.support.nginx import NginxProxy, TestCA
from tests.support.npm import Npm
from tests.support.oci import build_image, random_layer, write_oci_layout
from tests.support.skopeo import Skopeo

HOST = "packages.test"
SECRET = "receiver's secret"
FULL = "read:packages,write:packages,delete:packages,repo"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"),
                                reason="gh and npm resolve packages.test in a mount namespace of their own (root)")


@dataclasses.dataclass
class Site:
    node: LiveAppliance
    proxy: NginxProxy
    ca: TestCA
    tokens: dict[str, str]
    root: object
    receiver: Receiver

    def gh(self, *args: str, token: str = "alice", input_text: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.ca.client_env(), "GH_HOST": f"{HOST}:{self.proxy.port}",
               "GH_ENTERPRISE_TOKEN": self.tokens[token], "GH_CONFIG_DIR": str(self.root / "gh"),
               "GH_NO_UPDATE_NOTIFIER": "1", "GH_PROMPT_DISABLED": "1", "NO_COLOR": "1"}
        env.pop("GITHUB_TOKEN", None)
        env.pop("GH_TOKEN", None)
        command = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                   str(self.ca.hosts_file()), "gh", "api", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, input=input_text,
                              check=False)

    def npm(self, name: str) -> Npm:
        npm = Npm(self.root / f"npm-{name}", f"{self.proxy.url('npm')}/", "acme", self.tokens["alice"],
                  hosts_file=self.ca.hosts_file())
        npm.env.update(self.ca.client_env(), npm_config_cafile=str(self.ca.cert))
        return npm


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if shutil.which("gh") is None:
        pytest.fail("gh is not installed: scripts/install-test-deps.sh installs it")
    root = tmp_path_factory.mktemp("gh")
    ca = TestCA(root / "ca", HOST)
    node = LiveAppliance(root / "home")
    node.bootstrap = dataclasses.replace(node.bootstrap, trusted_proxies=1)
    node.bootstrap.write()
    node.set("hostname", HOST)
    node.set("webhooks.allow_private_addresses", True)
    node.user("alice")
    node.user("bob")
    node.org("acme", "alice")
    node.repo("acme/widgets", "public")
    node.repo("acme/secret", "private")
    tokens = {"alice": node.token("alice", FULL + ",admin:org_hook"),
              "alice-read": node.token("alice", "read:packages"),
              "bob": node.token("bob", FULL)}
    receiver = Receiver().start()
    node.start()
    scheduler_log = open(root / "scheduler.log", "ab")  # noqa: SIM115 - closed after the module
    scheduler = subprocess.Popen([sys.executable, "-m", "appliance", "scheduler"],
                                 env=dict(os.environ, APPLIANCE_HOME=str(node.home)),
                                 stdout=scheduler_log, stderr=subprocess.STDOUT)
    try:
        with NginxProxy(root / "nginx", ca, [node.address]) as proxy:
            site = Site(node, proxy, ca, tokens, root, receiver)
            for name in ("one", "two", "three"):
                npm = site.npm(name)
                npm.write_package(f"@acme/{name}", "1.0.0", repository="acme/widgets")
                published = npm.run("publish")
                assert published.returncode == 0, published.output
            npm = site.npm("hidden")
            npm.write_package("@acme/hidden", "1.0.0", repository="acme/secret")
            assert npm.run("publish").returncode == 0
            yield site
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=20)
        scheduler_log.close()
        node.stop()
        receiver.stop()


def test_list_an_orgs_npm_packages_with_pagination(site):
    listed = site.gh("--paginate", "/orgs/acme/packages?package_type=npm&per_page=2", "--jq", ".[].name")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["@acme/hidden", "@acme/one", "@acme/three", "@acme/two"]
    first = site.gh("-i", "/orgs/acme/packages?package_type=npm&per_page=2")
    assert f'<https://{HOST}:{site.proxy.port}/api/v3/orgs/acme/packages?package_type=npm&per_page=2&page=2>; ' \
           'rel="next"' in first.stdout


def test_get_delete_and_restore_a_version(site):
    base = "/orgs/acme/packages/npm/@acme%2Fone"
    version_id = site.gh(f"{base}/versions", "--jq", ".[0].id").stdout.strip()
    got = json.loads(site.gh(f"{base}/versions/{version_id}").stdout)
    assert got["name"] == "1.0.0" and got["metadata"] == {"package_type": "npm"}
    assert got["html_url"] == f"https://{HOST}:{site.proxy.port}/orgs/acme/packages/npm/package/@acme%2Fone/versions/{version_id}"

    refused = site.gh("-X", "DELETE", f"{base}/versions/{version_id}", token="alice-read")
    assert refused.returncode != 0
    assert "it needs delete:packages, read:packages and repo (HTTP 403)" in refused.stderr
    assert 'This API operation needs the "delete:packages" scope' in refused.stderr

    deleted = site.gh("-X", "DELETE", f"{base}/versions/{version_id}")
    assert deleted.returncode == 0, deleted.stderr
    assert site.gh(f"{base}/versions", "--jq", "length").stdout.strip() == "0"
    assert site.gh(f"{base}/versions?state=deleted", "--jq", ".[].name").stdout.split() == ["1.0.0"]
    restored = site.gh("-X", "POST", f"{base}/versions/{version_id}/restore")
    assert restored.returncode == 0, restored.stderr
    assert site.gh(f"{base}/versions", "--jq", ".[].name").stdout.split() == ["1.0.0"]


def test_what_others_may_not_see_is_not_found(site):
    hidden = site.gh("/orgs/acme/packages/npm/@acme%2Fhidden", token="bob")
    assert hidden.returncode != 0 and "gh: Not Found (HTTP 404)" in hidden.stderr
    assert site.gh("/orgs/acme/packages/npm/@acme%2Fhidden").returncode == 0
    listed = site.gh("/orgs/acme/packages?package_type=npm", "--jq", ".[].name", token="bob")
    assert "@acme/hidden" not in listed.stdout.split()


GRAPHQL = """query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    packages(first: 10) { totalCount nodes { name packageType statistics { downloadsTotalCount }
      latestVersion { version files(first: 3) { nodes { name } } } } }
  }
}"""


def test_graphql_a_repositorys_packages_and_downloads(site):
    consumer = site.npm("consumer")
    consumer.write_consumer()
    installed = consumer.run("install", "@acme/two")
    assert installed.returncode == 0, installed.output
    answer = site.gh("graphql", "-f", f"query={GRAPHQL}", "-f", "owner=acme", "-f", "name=widgets")
    assert answer.returncode == 0, answer.stderr
    packages = {p["name"]: p for p in json.loads(answer.stdout)["data"]["repository"]["packages"]["nodes"]}
    assert set(packages) == {"@acme/one", "@acme/two", "@acme/three"}
    assert packages["@acme/two"]["statistics"]["downloadsTotalCount"] == 1
    assert packages["@acme/one"]["statistics"]["downloadsTotalCount"] == 0
    assert packages["@acme/two"]["latestVersion"]["version"] == "1.0.0"
    assert packages["@acme/two"]["packageType"] == "NPM"

    short = site.gh("graphql", "-f", 'query={ organization(login: "acme") { packages(first: 5) { totalCount } } }',
                    token="bob")
    assert short.returncode == 0
    hidden = site.gh("graphql", "-f", 'query={ repository(owner: "acme", name: "secret") { name } }', token="bob")
    assert hidden.returncode != 0
    assert "Could not resolve to a Repository with the name 'acme/secret'." in hidden.stderr


def test_webhooks_from_npm_publish_and_docker_push(site):
    hook = {"name": "web", "active": True, "events": ["package"],
            "config": {"url": site.receiver.url, "content_type": "json", "secret": SECRET}}
    created = site.gh("-X", "POST", "/repos/acme/widgets/hooks", "--input", "-", input_text=json.dumps(hook))
    assert created.returncode == 0, created.stderr
    hook_id = json.loads(created.stdout)["id"]
    assert SECRET not in created.stdout
    ping = site.receiver.wait_for(1)[0]
    assert ping.headers["X-GitHub-Event"] == "ping" and ping.signature_valid(SECRET)

    npm = site.npm("four")
    npm.write_package("@acme/four", "1.0.0", repository="acme/widgets")
    assert npm.run("publish").returncode == 0
    published = site.receiver.wait_for(2)[1]
    assert published.headers["X-GitHub-Event"] == "package"
    assert published.headers["X-GitHub-Hook-ID"] == str(hook_id)
    assert published.signature_valid(SECRET)
    payload = json.loads(published.body)
    assert payload["action"] == "published" and payload["package"]["name"] == "@acme/four"
    assert payload["package"]["package_version"]["version"] == "1.0.0"
    assert payload["sender"]["login"] == "alice" and payload["repository"]["full_name"] == "acme/widgets"

    source = site.root / "image"
    write_oci_layout(source, "v1", build_image([random_layer(2048)]))
    skopeo = Skopeo(site.ca.hosts_file(), f"docker.{HOST}:{site.node.port}", site.root / "skopeo")
    pushed = skopeo.copy(f"oci:{source}:v1", skopeo.ref("acme/widgets/app:v1"), f"alice:{site.tokens['alice']}")
    assert pushed.returncode == 0, pushed.stderr
    deliveries = site.receiver.wait_for(3)
    pushed_event = json.loads(deliveries[2].body)
    assert deliveries[2].signature_valid(SECRET)
    assert pushed_event["action"] == "published"
    assert pushed_event["package"]["package_type"] == "container"
    assert pushed_event["package"]["package_version"]["version"].startswith("sha256:")
    # The registry tags the manifest it stored in a change of its own: an `updated` event names the tag
    # when the `published` one could not.
    tagged = [json.loads(d.body)["package"]["package_version"] for d in site.receiver.wait_for(4)[2:]]
    assert "v1" in [v["container_metadata"]["tag"]["name"] for v in tagged if v]

    log = json.loads(site.gh(f"/repos/acme/widgets/hooks/{hook_id}/deliveries").stdout)
    assert [d["event"] for d in log][-1] == "ping" and all(d["status_code"] == 200 for d in log)
