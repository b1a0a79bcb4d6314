"""The real skopeo against the appliance under gunicorn on docker.appliance.test: a multi-layer image
and a multi-arch index copied up and back with equal digests, inspect, list-tags, delete, anonymous
pulls, refusals it prints; the oras Python client pushing a chunked artifact with a subject, and the
referrers API listing it."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.tokens import Token
from tests.clients.conftest import require_client, require_module
from tests.support.live import LiveAppliance
from tests.support.oci import build_image, build_index, digest_of, random_layer, write_oci_layout
from tests.support.skopeo import Skopeo, run_with_hosts

HOSTNAME = "appliance.test"
FULL = "read:packages,write:packages,delete:packages,repo"


@dataclass
class DockerSite:
    appliance: LiveAppliance
    skopeo: Skopeo
    hosts_file: Path
    registry: str  # docker.HOST:PORT
    creds: str  # alice:TOKEN
    work: Path

    def http(self, method: str, path: str, **kwargs) -> requests.Response:
        """Plain HTTP to the registry, as alice, with the Host the appliance expects."""
        headers = {"Host": self.registry, **kwargs.pop("headers", {})}
        user, token = self.creds.split(":", 1)
        return requests.request(method, f"{self.appliance.origin}{path}", headers=headers, auth=(user, token),
                                timeout=30, **kwargs)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_client("skopeo")
    require_client("unshare")
    work = tmp_path_factory.mktemp("skopeo")
    appliance = LiveAppliance(work / "home")
    appliance.set("hostname", HOSTNAME)
    appliance.set("subdomain_isolation", True)
    appliance.user("alice")
    appliance.repo("alice/libs")
    appliance.user("bob")
    token = appliance.token("alice", FULL)
    appliance.start()
    hosts = work / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {HOSTNAME} docker.{HOSTNAME}\n")
    registry = f"docker.{HOSTNAME}:{appliance.port}"
    yield DockerSite(appliance, Skopeo(hosts, registry, work / "skopeo-home"), hosts, registry, f"alice:{token}",
                     work)
    appliance.stop()


def layout_manifest_digest(directory: Path) -> str:
    return json.loads((directory / "index.json").read_text())["manifests"][0]["digest"]


def test_a_multi_layer_image_goes_up_and_comes_back_identical(site):
    image = build_image([random_layer(1024 * 1024), random_layer(200 * 1024), random_layer(10)])
    source = site.work / "multi-layer"
    write_oci_layout(source, "v1", image)
    ref = site.skopeo.ref("alice/libs/app:v1")
    pushed = site.skopeo.copy(f"oci:{source}:v1", ref, site.creds)
    assert pushed.returncode == 0, pushed.output

    back = site.work / "multi-layer-back"
    pulled = site.skopeo.copy(ref, f"oci:{back}:v1", site.creds)
    assert pulled.returncode == 0, pulled.output
    assert layout_manifest_digest(back) == image.digest
    for blob in image.blobs:
        assert (back / "blobs" / "sha256" / digest_of(blob).split(":")[1]).read_bytes() == blob

    inspected = site.skopeo.remote("inspect", "alice/libs/app:v1", site.creds)
    assert inspected.returncode == 0, inspected.output
    details = json.loads(inspected.stdout)
    assert details["Digest"] == image.digest
    assert details["Layers"] == [digest_of(b) for b in image.blobs[1:]]
    raw = site.skopeo.remote("inspect", "alice/libs/app:v1", site.creds, "--raw")
    assert raw.stdout.encode() == image.manifest


def test_a_multi_arch_index_goes_up_and_comes_back_identical(site):
    amd = build_image([random_layer(64 * 1024), random_layer(1000)])
    arm = build_image([random_layer(64 * 1024)], architecture="arm64")
    index = build_index([amd, arm])
    source = site.work / "multi-arch"
    write_oci_layout(source, "multi", index, [amd, arm])
    ref = site.skopeo.ref("alice/libs/multi:1.0")
    pushed = site.skopeo.copy(f"oci:{source}:multi", ref, site.creds, "--all")
    assert pushed.returncode == 0, pushed.output
    back = site.work / "multi-arch-back"
    pulled = site.skopeo.copy(ref, f"oci:{back}:multi", site.creds, "--all")
    assert pulled.returncode == 0, pulled.output
    assert layout_manifest_digest(back) == index.digest
    for image in (amd, arm):
        assert (back / "blobs" / "sha256" / image.digest.split(":")[1]).read_bytes() == image.manifest
    raw = site.skopeo.remote("inspect", "alice/libs/multi:1.0", site.creds, "--raw")
    assert raw.stdout.encode() == index.manifest
    # One architecture of it, as a client on that platform pulls it.
    arm_details = site.skopeo.remote("inspect", "alice/libs/multi:1.0", site.creds, "--override-arch=arm64")
    assert arm_details.returncode == 0, arm_details.output
    details = json.loads(arm_details.stdout)
    assert (details["Digest"], details["Architecture"]) == (index.digest, "arm64")
    assert details["Layers"] == [digest_of(b) for b in arm.blobs[1:]]


def test_list_tags_and_delete(site):
    image = build_image([random_layer(4096)])
    source = site.work / "tags"
    write_oci_layout(source, "v1", image)
    for tag in ("1.0", "1.1", "latest"):
        assert site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref(f"alice/libs/tagged:{tag}"),
                                site.creds).returncode == 0
    listed = site.skopeo.remote("list-tags", "alice/libs/tagged", site.creds)
    assert listed.returncode == 0, listed.output
    assert json.loads(listed.stdout)["Tags"] == ["1.0", "1.1", "latest"]

    deleted = site.skopeo.remote("delete", "alice/libs/tagged:latest", site.creds)
    assert deleted.returncode == 0, deleted.output
    # skopeo deletes the manifest by digest: every tag pointing at it goes too.
    gone = site.skopeo.remote("inspect", "alice/libs/tagged:1.0", site.creds)
    assert gone.returncode != 0 and "manifest unknown" in gone.output
    assert json.loads(site.skopeo.remote("list-tags", "alice/libs/tagged", site.creds).stdout)["Tags"] == []


def test_anonymous_pulls_of_public_images_and_refusals_skopeo_prints(site):
    image = build_image([random_layer(2048)])
    source = site.work / "public"
    write_oci_layout(source, "v1", image)
    assert site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/public:v1"), site.creds).returncode == 0
    anonymous = site.skopeo.remote("inspect", "alice/libs/public:v1", None)
    assert anonymous.returncode == 0, anonymous.output
    assert json.loads(anonymous.stdout)["Digest"] == image.digest

    refused = site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/public:v2"), None)
    assert refused.returncode != 0 and "authentication required" in refused.output

    read_only = site.appliance.token("alice", "read:packages")
    refused = site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/public:v2"), f"alice:{read_only}")
    assert refused.returncode != 0 and "write:packages" in refused.output

    bob = site.appliance.token("bob", FULL)
    refused = site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/public:v2"), f"bob:{bob}")
    assert refused.returncode != 0 and "bob needs write access to alice/libs" in refused.output

    refused = site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/public:v2"), "alice:wrong")
    assert refused.returncode != 0 and "bad credentials" in refused.output
    assert json.loads(site.skopeo.remote("list-tags", "alice/libs/public", site.creds).stdout)["Tags"] == ["v1"]


@pytest.mark.parametrize("change", ["revoked", "suspended"])
def test_a_revoked_token_or_a_suspended_user_stops_skopeo_within_a_second(site, change):
    """Each worker remembers a token for a second (`appliance.auth.recent`); DESIGN's promise holds for
    the client all the same: one second after the change, skopeo is refused on whichever worker."""
    image = build_image([random_layer(512)])
    source = site.work / f"pulled-{change}"
    write_oci_layout(source, "v1", image)
    assert site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref(f"alice/libs/{change}:v1"),
                            site.creds).returncode == 0
    login = f"carol-{change}"
    site.appliance.user(login)
    creds = f"{login}:{site.appliance.token(login, 'read:packages')}"
    inspected = site.skopeo.remote("inspect", f"alice/libs/{change}:v1", creds)
    assert inspected.returncode == 0, inspected.output
    with site.appliance.db():
        account = Account.get(Account.login == login)
        if change == "revoked":
            Token.update(revoked_at=utcnow()).where(Token.user == account.id).execute()
        else:
            Account.update(suspended=True).where(Account.id == account.id).execute()
    time.sleep(1.0)
    refused = site.skopeo.remote("inspect", f"alice/libs/{change}:v1", creds)
    assert refused.returncode != 0 and "bad credentials" in refused.output, refused.output


def test_oras_pushes_an_artifact_with_a_subject_and_the_referrers_api_lists_it(site):
    require_module("oras")
    image = build_image([random_layer(1000)])
    source = site.work / "subject"
    write_oci_layout(source, "v1", image)
    assert site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/signed:v1"), site.creds).returncode == 0

    sbom = site.work / "sbom.json"
    sbom.write_bytes(json.dumps({"packages": ["x" * 3000]}).encode())
    config = site.work / "sbom-config.json"
    config.write_text("{}")
    user, token = site.creds.split(":", 1)
    arguments = {"registry": site.registry, "image": "alice/libs/signed", "tag": "sbom", "user": user,
                 "password": token, "file": str(sbom), "config": str(config),
                 "config_type": "application/vnd.example.sbom.config",
                 "subject": {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest)}}
    script = Path(__file__).parent.parent / "support" / "oras_push.py"
    result = run_with_hosts(site.hosts_file, [sys.executable, str(script), json.dumps(arguments)],
                            env={"HOME": str(site.work / "oras-home"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.output
    pushed = json.loads(result.stdout.strip().splitlines()[-1])
    assert pushed["status"] == 201 and pushed["subject"] == image.digest
    # The referrers tag schema's tag of the image is listed while the artifact refers to it.
    assert pushed["tags"] == ["sbom", image.digest.replace(":", "-"), "v1"]

    referrers = site.http("GET", f"/v2/alice/libs/signed/referrers/{image.digest}")
    assert referrers.status_code == 200
    assert referrers.json()["manifests"] == [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": pushed["digest"],
        "size": int(site.http("HEAD", "/v2/alice/libs/signed/manifests/sbom").headers["Content-Length"]),
        "artifactType": "application/vnd.example.sbom.config"}]
    filtered = site.http("GET", f"/v2/alice/libs/signed/referrers/{image.digest}",
                         params={"artifactType": "application/other"})
    assert filtered.json()["manifests"] == []
    # The artifact's layer came through oras' chunked upload and reads back whole.
    manifest = site.http("GET", "/v2/alice/libs/signed/manifests/sbom",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    layer = manifest["layers"][0]["digest"]
    assert site.http("GET", f"/v2/alice/libs/signed/blobs/{layer}").content == sbom.read_bytes()


def test_login_trades_the_token_for_a_bearer_token_and_refuses_a_wrong_one(site):
    user, token = site.creds.split(":", 1)
    logged_in = site.skopeo.run("login", "--tls-verify=false", "-u", user, "-p", token, site.registry)
    assert logged_in.returncode == 0 and "Login Succeeded" in logged_in.output, logged_in.output
    refused = site.skopeo.run("login", "--tls-verify=false", "-u", user, "-p", "apt_wrong", site.registry)
    # skopeo prints its own words for a 401 at login.
    assert refused.returncode != 0 and "invalid username/password" in refused.output, refused.output


def test_a_chunked_upload_over_http_survives_a_restart_of_the_appliance(site):
    data = random_layer(300 * 1024)
    digest = digest_of(data)
    started = site.http("POST", "/v2/alice/libs/chunked/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["Location"]
    third = len(data) // 3
    first = site.http("PATCH", location, data=data[:third], headers={"Content-Range": f"0-{third - 1}"})
    assert first.status_code == 202 and first.headers["Range"] == f"0-{third - 1}"

    site.appliance.stop()
    site.appliance.start()

    status = site.http("GET", location)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{third - 1}"
    second = site.http("PATCH", location, data=data[third:2 * third],
                       headers={"Content-Range": f"{third}-{2 * third - 1}"})
    assert second.headers["Range"] == f"0-{2 * third - 1}"
    finished = site.http("PUT", f"{location}?digest={digest}", data=data[2 * third:],
                         headers={"Content-Range": f"{2 * third}-{len(data) - 1}"})
    assert finished.status_code == 201 and finished.headers["Docker-Content-Digest"] == digest
    assert site.http("GET", f"/v2/alice/libs/chunked/blobs/{digest}").content == data


def test_skopeo_mounts_layers_the_appliance_has_in_another_image(site):
    image = build_image([random_layer(128 * 1024), random_layer(1000)])
    source = site.work / "mounted"
    write_oci_layout(source, "v1", image)
    assert site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/first:v1"), site.creds).returncode == 0
    copied = site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/second:v1"), site.creds)
    assert copied.returncode == 0, copied.output
    # skopeo remembers where it pushed each blob and asks the registry to mount it instead of sending it.
    mounted = [line for line in site.appliance.log_path.read_text().splitlines()
               if "POST /v2/alice/libs/second/blobs/uploads/?" in line and "mount=" in line and '" 201 ' in line]
    layers = [digest_of(layer).replace(":", "%3A") for layer in image.blobs[1:]]
    assert all(any(layer in line for line in mounted) for layer in layers), mounted
    back = site.work / "mounted-back"
    assert site.skopeo.copy(site.skopeo.ref("alice/libs/second:v1"), f"oci:{back}:v1", site.creds).returncode == 0
    assert layout_manifest_digest(back) == image.digest


def test_skopeo_trying_https_first_is_one_info_line_in_the_log_not_a_warning(site):
    """skopeo tries HTTPS before plain HTTP on a registry it may not verify; gunicorn logged each of
    those ClientHellos as a WARNING ("Invalid HTTP request line: 'bare LF as line terminator'")."""
    logged_before = len(site.appliance.log_path.read_text().splitlines())
    listed = site.skopeo.remote("list-tags", "alice/libs/probed", site.creds)
    assert "404 (Not Found)" in listed.output  # an answer over HTTP, after the HTTPS attempt
    logged = site.appliance.log_path.read_text().splitlines()[logged_before:]
    assert any("TLS handshake from ip=127.0.0.1 on this plain-HTTP port" in line for line in logged), logged
    assert not [line for line in logged if "WARNING" in line or "bare LF" in line], logged
